// Package metadata is Nimbus's nova-api-metadata (port 8775): what a
// guest reads at http://169.254.169.254 about itself, in OpenStack's
// shape (/openstack/<version>/meta_data.json, user_data,
// network_data.json, vendor_data.json, vendor_data2.json, password) and
// EC2's (/<version>/meta-data/..., /<version>/user-data).
//
// meta_data.json and the EC2 tree are the config drive's
// (internal/compute/configdrive builds both), so a guest reads the same
// from either.
//
// Which instance asks is told as Nova is told behind Neutron's metadata
// proxy: headers X-Instance-ID, X-Tenant-ID and X-Instance-ID-Signature,
// the hex HMAC-SHA256 of the instance id under the shared secret. A
// request without them is identified by the caller's fixed IP address;
// until a network service gives instances addresses, none is known and
// such requests get 404.
package metadata

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

// DefaultPort is nova-api-metadata's port.
const DefaultPort = 8775

// Options configure the metadata service; nova.conf's names in comments.
type Options struct {
	// Store is the instances store (the compute database); its DB also
	// keeps the passwords guests post.
	Store *instances.Store
	// Secret is the secret shared with the network's metadata proxy
	// ([neutron] metadata_proxy_shared_secret). "" refuses every proxied
	// request: without it a signature proves nothing.
	Secret string
	// DHCPDomain is appended to an instance's hostname in its metadata
	// ([api] dhcp_domain; Nova's default is "novalocal"); "" appends
	// nothing.
	DHCPDomain string
	// VendorData is vendor_data.json and vendor_data2.json's "static"
	// ([api] vendordata_jsonfile_path's content); nil is {}.
	VendorData any
	// TrustedProxies are the addresses whose X-Forwarded-For names the
	// caller of a request without instance headers; others are taken
	// for the caller themselves.
	TrustedProxies []netip.Prefix
	// Addresses finds the instance with a fixed IP address, for requests
	// without instance headers; nil (no network service) knows none.
	// It returns instances.ErrNotFound for an unknown address.
	Addresses func(ctx context.Context, addr netip.Addr) (uuid string, err error)
	Log       *slog.Logger
}

// Service answers metadata requests.
type Service struct {
	o         Options
	log       *slog.Logger
	passwords Passwords
}

// New makes the metadata service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("metadata: no instances store")
	}
	s := &Service{o: o, log: o.Log, passwords: Passwords{DB: o.Store.DB()}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Handler is the metadata API.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// httpError is an answer other than 200, with webob's plain body.
type httpError struct {
	status int
	msg    string // the explanation; "" for the status's default
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

var errNotFound = &httpError{status: http.StatusNotFound, msg: "The resource could not be found."}

func writeError(w http.ResponseWriter, e *httpError) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	fmt.Fprintf(w, "%d %s\n\n%s\n", e.status, http.StatusText(e.status), e.msg)
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.ErrorContext(r.Context(), "metadata request panicked", "panic", p, "path", r.URL.Path)
			writeError(w, errorf(http.StatusInternalServerError, "An unknown error has occurred. Please try your request again."))
		}
	}()
	tokens := split(r.URL.Path)
	if len(tokens) == 0 {
		// The root lists the EC2 versions to anyone, as Nova's.
		write(w, r, "text/plain", []byte(strings.Join(append(ec2Versions(), "latest"), "\n")))
		return
	}
	inst, err := s.identify(r)
	if err == nil {
		var ans *answer
		ans, err = s.lookup(r, inst, s.requesterAddress(r), tokens)
		if err == nil {
			write(w, r, ans.contentType, ans.body)
			return
		}
	}
	var he *httpError
	if !errors.As(err, &he) {
		s.log.ErrorContext(r.Context(), "metadata request failed", "err", err, "path", r.URL.Path)
		he = errorf(http.StatusInternalServerError, "An unknown error has occurred. Please try your request again.")
	}
	writeError(w, he)
}

func write(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	if !strings.Contains(contentType, "charset") {
		contentType += "; charset=UTF-8"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// split is Nova's path handling: normalized, without empty parts.
func split(path string) []string {
	var out []string
	for _, p := range strings.Split(path, "/") {
		switch p {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, p)
		}
	}
	return out
}

// identify finds the instance asking, by the metadata proxy's headers
// or by the caller's address.
func (s *Service) identify(r *http.Request) (*instances.Instance, error) {
	if _, proxied := r.Header["X-Instance-Id"]; proxied {
		return s.byInstanceID(r)
	}
	addr := s.callerAddress(r)
	if !addr.IsValid() || s.o.Addresses == nil {
		s.log.InfoContext(r.Context(), "metadata request from an address no instance has", "addr", addr.String())
		return nil, errNotFound
	}
	uuid, err := s.o.Addresses(r.Context(), addr)
	if errors.Is(err, instances.ErrNotFound) {
		s.log.InfoContext(r.Context(), "metadata request from an address no instance has", "addr", addr.String())
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find the instance of %s: %w", addr, err)
	}
	return s.instance(r.Context(), uuid)
}

// callerAddress is the address of the caller: X-Forwarded-For's first
// when the request comes through a trusted proxy, else the peer's.
func (s *Service) callerAddress(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
		for _, p := range s.o.TrustedProxies {
			if p.Contains(peer) {
				first, _, _ := strings.Cut(fwd, ",")
				a, err := netip.ParseAddr(strings.TrimSpace(first))
				if err != nil {
					return netip.Addr{}
				}
				return a.Unmap()
			}
		}
	}
	return peer
}

// requesterAddress is the guest's address as Nova's metadata shows it in
// EC2's local-ipv4 while the instance has no fixed IP: what the proxy
// forwarded for, or the caller's own.
func (s *Service) requesterAddress(r *http.Request) string {
	if _, proxied := r.Header["X-Instance-Id"]; proxied {
		first, _, _ := strings.Cut(r.Header.Get("X-Forwarded-For"), ",")
		return strings.TrimSpace(first)
	}
	if a := s.callerAddress(r); a.IsValid() {
		return a.String()
	}
	return ""
}

// byInstanceID is Nova's _handle_instance_id_request.
func (s *Service) byInstanceID(r *http.Request) (*instances.Instance, error) {
	ids := r.Header.Values("X-Instance-ID")
	tenants := r.Header.Values("X-Tenant-ID")
	sigs := r.Header.Values("X-Instance-ID-Signature")
	switch {
	case len(ids) == 0:
		return nil, errorf(http.StatusBadRequest, "X-Instance-ID header is missing from request.")
	case len(sigs) == 0:
		return nil, errorf(http.StatusBadRequest, "X-Instance-ID-Signature header is missing from request.")
	case len(tenants) == 0:
		return nil, errorf(http.StatusBadRequest, "X-Tenant-ID header is missing from request.")
	case len(ids) > 1:
		return nil, errorf(http.StatusBadRequest, "Multiple X-Instance-ID headers found within request.")
	case len(tenants) > 1:
		return nil, errorf(http.StatusBadRequest, "Multiple X-Tenant-ID headers found within request.")
	}
	id, tenant, sig := ids[0], tenants[0], sigs[0]
	if s.o.Secret == "" {
		s.log.WarnContext(r.Context(), "proxied metadata request refused: no metadata_proxy_shared_secret is set",
			"instance_uuid", id, "remote", r.RemoteAddr)
		return nil, errorf(http.StatusForbidden, "Invalid proxy request signature.")
	}
	if !hmac.Equal([]byte(Sign(s.o.Secret, id)), []byte(sig)) {
		s.log.WarnContext(r.Context(), "X-Instance-ID-Signature does not match the expected signature",
			"instance_uuid", id, "remote", r.RemoteAddr, "forwarded_for", r.Header.Get("X-Forwarded-For"))
		return nil, errorf(http.StatusForbidden, "Invalid proxy request signature.")
	}
	inst, err := s.instance(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if inst.ProjectID != tenant {
		s.log.WarnContext(r.Context(), "X-Tenant-ID does not match the instance's project",
			"instance_uuid", id, "tenant_id", tenant)
		return nil, errNotFound
	}
	return inst, nil
}

// Sign is the signature the metadata proxy sends with an instance id:
// hex HMAC-SHA256 of id under secret.
func Sign(secret, id string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Service) instance(ctx context.Context, uuid string) (*instances.Instance, error) {
	inst, err := s.o.Store.Get(ctx, uuid, false)
	if errors.Is(err, instances.ErrNotFound) {
		s.log.InfoContext(ctx, "metadata request for an instance that does not exist", "instance_uuid", uuid)
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get instance %s: %w", uuid, err)
	}
	return inst, nil
}

// Data is what an instance's metadata and config drive say, from its
// record: the one mapping from an instance to configdrive.Data, for the
// conductor's config drives as for this service.
func Data(inst *instances.Instance, dhcpDomain string, vendor any) configdrive.Data {
	host := inst.Hostname
	if dhcpDomain != "" && host != "" {
		host += "." + dhcpDomain
	}
	d := configdrive.Data{
		UUID:             inst.UUID,
		Name:             inst.Name,
		Hostname:         host,
		AvailabilityZone: inst.AvailabilityZone,
		ProjectID:        inst.ProjectID,
		Meta:             inst.Metadata,
		UserData:         inst.UserData,
		VendorData:       vendor,
		LaunchIndex:      inst.LaunchIndex,
		InstanceType:     inst.Flavor.Name,
		ImageID:          inst.ImageRef,
		ReservationID:    inst.ReservationID,
		RootDevice:       inst.RootDeviceName,
	}
	if inst.KeyName != "" {
		typ := inst.KeyType
		if typ == "" {
			typ = "ssh"
		}
		d.Keys = []configdrive.Key{{Name: inst.KeyName, Type: typ, Data: inst.KeyData}}
	}
	if len(inst.Spec.NetworkData) > 0 {
		d.NetworkData = inst.Spec.NetworkData
	}
	return d
}
