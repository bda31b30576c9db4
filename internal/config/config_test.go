package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileThenEnvOverrideDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nimbus.toml")
	os.WriteFile(path, []byte("region = \"Two\"\n[identity]\nport = 5100\ntoken_expiration = \"2h\"\n"), 0o600)
	t.Setenv("NIMBUS_IDENTITY_PORT", "5200")
	c := Default(dir)
	if err := c.Load(path); err != nil {
		t.Fatal(err)
	}
	if c.Region != "Two" || c.Identity.Port != 5200 || c.Identity.TokenExpiration != 2*time.Hour {
		t.Fatalf("got region %q port %d expiration %v", c.Region, c.Identity.Port, c.Identity.TokenExpiration)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownOptionsAndBadValuesAreRejected(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nimbus.toml")
	os.WriteFile(path, []byte("[identity]\nprot = 1\n"), 0o600)
	c := Default(dir)
	if err := c.Load(path); err == nil {
		t.Fatal("a misspelt option loaded without error")
	}
	c = Default(dir)
	t.Setenv("NIMBUS_IDENTITY_PORT", "many")
	if err := c.Load(""); err == nil {
		t.Fatal("NIMBUS_IDENTITY_PORT=many loaded without error")
	}
	c = Default(dir)
	c.Identity.Port = 70000
	if err := c.Validate(); err == nil {
		t.Fatal("port 70000 validated")
	}
}
