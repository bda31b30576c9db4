package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/identity"
)

// catalog maps a Nimbus service with a public API to its catalog type and
// the service name OpenStack clients expect.
var catalog = map[string][2]string{
	"identity":     {"identity", "keystone"},
	"image":        {"image", "glance"},
	"object-proxy": {"object-store", "swift"},
	"placement":    {"placement", "placement"},
	"compute-api":  {"compute", "nova"},
}

// serviceUser is the user `nimbus up`'s services call each other as.
const serviceUser = "nimbus"

// bootstrap makes the first admin and the catalog entries of the running
// services, and on the first start writes clouds.yaml and admin-openrc.
// Later starts keep the admin's password and only refresh endpoints.
// servicePassword, when set, is the new password of the services' own user.
func bootstrap(ctx context.Context, cfg config.Config, svc *identity.Service, endpoints map[string]string,
	servicePassword string, log *slog.Logger) error {
	password := newPassword()
	opts := identity.BootstrapOptions{AdminUser: "admin", AdminPassword: password, AdminProject: "admin", Region: cfg.Region}
	if servicePassword != "" {
		opts.ServiceUser, opts.ServicePassword = serviceUser, servicePassword
	}
	for name, url := range endpoints {
		entry, ok := catalog[name]
		if !ok {
			continue // not a public API (object-storage)
		}
		opts.Services = append(opts.Services, identity.BootstrapService{Type: entry[0], Name: entry[1],
			URLs: map[string]string{"public": url, "internal": url, "admin": url}})
		if name == "object-proxy" {
			opts.Roles = append(opts.Roles, cfg.ObjectStore.ResellerAdminRole)
		}
	}
	res, err := svc.Bootstrap(ctx, opts)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if !res.Created {
		if _, err := os.Stat(cfg.Path("clouds.yaml")); errors.Is(err, os.ErrNotExist) {
			log.Warn("the admin user exists but clouds.yaml is missing; reset the password with `nimbus bootstrap --reset-password`")
		}
		return nil
	}
	return WriteCredentials(cfg, endpoints["identity"], password)
}

// WriteCredentials writes DATA/clouds.yaml and DATA/admin-openrc (0600).
func WriteCredentials(cfg config.Config, authURL, password string) error {
	clouds := fmt.Sprintf(`clouds:
  nimbus:
    auth:
      auth_url: %s
      username: admin
      password: %s
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: %s
    identity_api_version: 3
    interface: public
`, authURL, yamlQuote(password), cfg.Region)
	openrc := fmt.Sprintf(`export OS_AUTH_URL=%s
export OS_USERNAME=admin
export OS_PASSWORD=%s
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=%s
export OS_IDENTITY_API_VERSION=3
export OS_INTERFACE=public
`, authURL, shellQuote(password), cfg.Region)
	for name, data := range map[string]string{"clouds.yaml": clouds, "admin-openrc": openrc} {
		if err := writeSecretFile(cfg.Path(name), data); err != nil {
			return err
		}
	}
	return nil
}

func writeSecretFile(path, data string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func yamlQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func shellQuote(s string) string { return `'` + strings.ReplaceAll(s, `'`, `'\''`) + `'` }
