package metadata

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/db"
)

const (
	secret   = "s3cret"
	projectA = "0d0d0d0d0d0d4d0d8d0d0d0d0d0d0d0d"
	projectB = "0e0e0e0e0e0e4e0e8e0e0e0e0e0e0e0e"
	sshKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtest demo@example"
)

type env struct {
	t     *testing.T
	store *instances.Store
	srv   *httptest.Server
	o     Options
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	d := db.OpenTest(t, os.DirFS("../migrations"))
	e := &env{t: t, store: instances.New(d)}
	o.Store = e.store
	svc, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.o = o
	e.srv = httptest.NewServer(svc.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// create stores an active instance; change adjusts it first.
func (e *env) create(name, project string, change func(*instances.Instance)) *instances.Instance {
	e.t.Helper()
	inst := &instances.Instance{
		UUID: uuid.NewString(), Name: name, ProjectID: project, UserID: "u-" + project, Hostname: name,
		VMState: instances.Active, Host: "node1", Node: "node1", AvailabilityZone: "nova",
		Flavor:   instances.Flavor{FlavorID: "1", Name: "m1.tiny", MemoryMB: 512, VCPUs: 1, RootGB: 1, RXTXFactor: 1},
		ImageRef: "1c6e5d2a-0000-4000-8000-000000000001", Metadata: map[string]string{"role": "web"}, Tags: []string{},
		KeyName: "demo", KeyData: sshKey, KeyType: "ssh", ReservationID: "r-abc12345",
		Spec:      instances.RequestSpec{Image: instances.Image{ID: "1c6e5d2a-0000-4000-8000-000000000001"}},
		CreatedAt: time.Now(),
	}
	if change != nil {
		change(inst)
	}
	ctx := context.Background()
	err := e.store.DB().Tx(ctx, func(tx *sql.Tx) error {
		return e.store.CreateTx(ctx, tx, inst, instances.Action{Action: "create", RequestID: "req-" + name,
			UserID: inst.UserID, ProjectID: project, StartTime: time.Now()})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return inst
}

// get asks path as the instance id says, signed with sig ("" signs with
// the test secret, "-" sends no instance headers).
func (e *env) do(method, path, id, tenant, sig, body string) (int, string, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if sig != "-" {
		if sig == "" {
			sig = Sign(secret, id)
		}
		req.Header.Set("X-Instance-ID", id)
		req.Header.Set("X-Tenant-ID", tenant)
		req.Header.Set("X-Instance-ID-Signature", sig)
		req.Header.Set("X-Forwarded-For", "10.0.0.5")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data), res.Header
}

func (e *env) get(path string, inst *instances.Instance) string {
	e.t.Helper()
	code, body, _ := e.do("GET", path, inst.UUID, inst.ProjectID, "", "")
	if code != http.StatusOK {
		e.t.Fatalf("GET %s as %s = %d %q, want 200", path, inst.Name, code, body)
	}
	return body
}

func TestMetaDataJSON(t *testing.T) {
	e := newEnv(t, Options{Secret: secret, DHCPDomain: "novalocal"})
	a := e.create("vm-a", projectA, func(i *instances.Instance) { i.LaunchIndex = 2 })
	b := e.create("vm-b", projectB, func(i *instances.Instance) { i.KeyName, i.KeyData = "", "" })

	var md map[string]any
	if err := json.Unmarshal([]byte(e.get("/openstack/latest/meta_data.json", a)), &md); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"uuid": a.UUID, "name": "vm-a", "hostname": "vm-a.novalocal", "availability_zone": "nova",
		"project_id": projectA, "launch_index": float64(2),
	} {
		if md[k] != want {
			t.Errorf("meta_data.json %s = %v, want %v", k, md[k], want)
		}
	}
	if pk, _ := md["public_keys"].(map[string]any); pk["demo"] != sshKey {
		t.Errorf("public_keys = %v", md["public_keys"])
	}
	if keys, _ := md["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["type"] != "ssh" {
		t.Errorf("keys = %v", md["keys"])
	}
	if meta, _ := md["meta"].(map[string]any); meta["role"] != "web" {
		t.Errorf("meta = %v", md["meta"])
	}
	if seed, _ := md["random_seed"].(string); len(seed) < 600 {
		t.Errorf("random_seed = %q", seed)
	}
	if devs, ok := md["devices"].([]any); !ok || len(devs) != 0 {
		t.Errorf("devices = %v, want []", md["devices"])
	}
	if cpus, ok := md["dedicated_cpus"].([]any); !ok || len(cpus) != 0 {
		t.Errorf("dedicated_cpus = %v, want []", md["dedicated_cpus"])
	}

	// Each instance gets its own.
	var mdB map[string]any
	_ = json.Unmarshal([]byte(e.get("/openstack/2012-08-10/meta_data.json", b)), &mdB)
	if mdB["uuid"] != b.UUID || mdB["name"] != "vm-b" {
		t.Errorf("vm-b's meta_data.json = %v", mdB)
	}
	// Folsom's has neither a seed, a project nor keys for a keyless server.
	for _, k := range []string{"random_seed", "project_id", "devices", "public_keys", "keys"} {
		if _, ok := mdB[k]; ok {
			t.Errorf("2012-08-10 meta_data.json has %s: %v", k, mdB)
		}
	}
	// The same document as the config drive's, but for the random seed.
	d := Data(a, "novalocal", nil)
	drive, _ := configdrive.MetaData(d, "2016-06-30")
	served := e.get("/openstack/2016-06-30/meta_data.json", a)
	if strip(t, drive) != strip(t, []byte(served)) {
		t.Errorf("served %s\nconfig drive %s", served, drive)
	}
}

// strip is a meta_data.json without its random seed.
func strip(t *testing.T, b []byte) string {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "random_seed")
	out, _ := json.Marshal(m)
	return string(out)
}

func TestListingsAndFiles(t *testing.T) {
	e := newEnv(t, Options{Secret: secret, VendorData: map[string]any{"motd": "hi"}})
	a := e.create("vm-a", projectA, func(i *instances.Instance) { i.UserData = []byte("#!/bin/sh\necho hi\n") })
	b := e.create("vm-b", projectA, nil)

	versions := "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n2016-10-06\n2017-02-22\n2018-08-27\n2020-10-14\n2025-04-04\nlatest"
	ec2 := "1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n2008-02-01\n2008-09-01\n2009-04-04\nlatest"
	for _, tc := range []struct {
		path string
		inst *instances.Instance
		want string
	}{
		{"/openstack", a, versions},
		{"/openstack/", a, versions},
		{"/openstack/latest", a, "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"},
		{"/openstack/latest/", b, "meta_data.json\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"},
		{"/openstack/2012-08-10", a, "meta_data.json\nuser_data"},
		{"/openstack/latest/user_data", a, "#!/bin/sh\necho hi\n"},
		{"/openstack/latest/network_data.json", a, "{}"},
		{"/openstack/latest/vendor_data.json", a, `{"motd":"hi"}`},
		{"/openstack/latest/vendor_data2.json", a, `{"static":{"motd":"hi"}}`},
		{"/openstack/latest/password", a, ""},
		{"/latest", a, "meta-data/\nuser-data"},
		{"/latest", b, "meta-data/"},
		{"/latest/user-data", a, "#!/bin/sh\necho hi\n"},
		{"/ec2", a, ec2},
		{"/latest/meta-data/instance-id", a, "i-" + strings.ReplaceAll(a.UUID, "-", "")[:8]},
		{"/2009-04-04/meta-data/ami-id", a, "ami-1c6e5d2a"},
		{"/latest/meta-data/hostname", a, "vm-a"},
		{"/latest/meta-data/local-hostname", a, "vm-a"},
		{"/latest/meta-data/placement/availability-zone", a, "nova"},
		{"/latest/meta-data/placement", a, "availability-zone"},
		{"/latest/meta-data/public-keys", a, "0=demo"},
		{"/latest/meta-data/public-keys/0", a, "openssh-key"},
		{"/latest/meta-data/public-keys/0/openssh-key", a, sshKey},
		{"/latest/meta-data/reservation-id", a, "r-abc12345"},
		{"/latest/meta-data/security-groups", a, ""},
		{"/latest/meta-data/instance-type", a, "m1.tiny"},
		{"/latest/meta-data/ami-launch-index", a, "0"},
		{"/latest/meta-data/block-device-mapping", a, "ami\nroot"},
		{"/latest/meta-data/block-device-mapping/root", a, "/dev/vda"},
		{"/ec2/latest/meta-data/hostname", a, "vm-a"},
		{"/latest/meta-data/local-ipv4", a, "10.0.0.5"}, // the proxy's X-Forwarded-For
	} {
		if got := e.get(tc.path, tc.inst); got != tc.want {
			t.Errorf("GET %s as %s = %q, want %q", tc.path, tc.inst.Name, got, tc.want)
		}
	}
	listing := e.get("/latest/meta-data/", a)
	for _, want := range []string{"ami-id", "ami-launch-index", "block-device-mapping/", "hostname", "instance-id",
		"instance-type", "local-hostname", "placement/", "public-keys/", "reservation-id", "security-groups"} {
		if !slices.Contains(strings.Split(listing, "\n"), want) {
			t.Errorf("/latest/meta-data/ lacks %q:\n%s", want, listing)
		}
	}
	// The 1.0 tree predates instance-type and placement.
	if l := e.get("/1.0/meta-data", a); strings.Contains(l, "instance-type") || strings.Contains(l, "placement") {
		t.Errorf("1.0 meta-data lists %q", l)
	}
	for _, path := range []string{
		"/openstack/latest/user_data", // b has none
		"/latest/user-data",
		"/openstack/2011-01-01/meta_data.json",
		"/openstack/latest/nothing",
		"/2012-01-01/meta-data/",
		"/latest/meta-data/nothing",
		"/latest/meta-data/hostname/more",
		"/latest/meta-data/public-keys/0/_name",
		"/openstack/2012-08-10/password",
		"/openstack/2013-04-04/vendor_data.json",
		"/openstack/2016-06-30/vendor_data2.json",
	} {
		if code, body, _ := e.do("GET", path, b.UUID, b.ProjectID, "", ""); code != http.StatusNotFound {
			t.Errorf("GET %s as vm-b = %d %q, want 404", path, code, body)
		}
	}
	// Content types as Nova's.
	for path, want := range map[string]string{
		"/openstack/latest/meta_data.json":    "application/json",
		"/openstack/latest/vendor_data.json":  "application/json",
		"/openstack/latest/network_data.json": "text/plain",
		"/latest/meta-data/hostname":          "text/plain",
	} {
		if _, _, h := e.do("GET", path, a.UUID, a.ProjectID, "", ""); !strings.HasPrefix(h.Get("Content-Type"), want) {
			t.Errorf("GET %s: Content-Type %q, want %s", path, h.Get("Content-Type"), want)
		}
	}
}

func TestRootNeedsNoIdentity(t *testing.T) {
	e := newEnv(t, Options{Secret: secret})
	code, body, _ := e.do("GET", "/", "", "", "-", "")
	if code != http.StatusOK || !strings.HasPrefix(body, "1.0\n") || !strings.HasSuffix(body, "\nlatest") {
		t.Fatalf("GET / = %d %q", code, body)
	}
}

func TestIdentification(t *testing.T) {
	e := newEnv(t, Options{Secret: secret})
	a := e.create("vm-a", projectA, nil)
	b := e.create("vm-b", projectB, nil)
	const path = "/openstack/latest/meta_data.json"

	for _, tc := range []struct {
		name            string
		id, tenant, sig string
		status          int
		msg             string
	}{
		{"good", a.UUID, projectA, "", 200, ""},
		{"bad signature", a.UUID, projectA, "0000", 403, "Invalid proxy request signature."},
		{"another's id with my signature", b.UUID, projectB, Sign(secret, a.UUID), 403, "Invalid proxy request signature."},
		{"signed with another secret", b.UUID, projectB, Sign("guess", b.UUID), 403, "Invalid proxy request signature."},
		{"wrong tenant", a.UUID, projectB, "", 404, ""},
		{"no such instance", "00000000-0000-4000-8000-000000000000", projectA, "", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := e.do("GET", path, tc.id, tc.tenant, tc.sig, "")
			if code != tc.status || !strings.Contains(body, tc.msg) {
				t.Fatalf("GET = %d %q, want %d %q", code, body, tc.status, tc.msg)
			}
			if code == 200 && !strings.Contains(body, `"uuid":"`+tc.id+`"`) {
				t.Fatalf("answer for another instance: %s", body)
			}
		})
	}

	// Missing and repeated headers are 400s, as Nova's.
	for _, tc := range []struct {
		headers map[string][]string
		msg     string
	}{
		{map[string][]string{"X-Instance-ID": {a.UUID}, "X-Tenant-ID": {projectA}}, "X-Instance-ID-Signature header is missing from request."},
		{map[string][]string{"X-Instance-ID": {a.UUID}, "X-Instance-ID-Signature": {Sign(secret, a.UUID)}}, "X-Tenant-ID header is missing from request."},
		{map[string][]string{"X-Instance-ID": {a.UUID, b.UUID}, "X-Tenant-ID": {projectA}, "X-Instance-ID-Signature": {Sign(secret, a.UUID)}},
			"Multiple X-Instance-ID headers found within request."},
		{map[string][]string{"X-Instance-ID": {a.UUID}, "X-Tenant-ID": {projectA, projectB}, "X-Instance-ID-Signature": {Sign(secret, a.UUID)}},
			"Multiple X-Tenant-ID headers found within request."},
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		for k, vs := range tc.headers {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || !strings.Contains(string(data), tc.msg) {
			t.Errorf("headers %v: %d %q, want 400 %q", tc.headers, res.StatusCode, data, tc.msg)
		}
	}

	// Without instance headers the caller's address would tell; no
	// network service gives instances addresses yet.
	if code, _, _ := e.do("GET", path, "", "", "-", ""); code != http.StatusNotFound {
		t.Errorf("request by address = %d, want 404", code)
	}
}

func TestNoSecretRefusesProxiedRequests(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.create("vm-a", projectA, nil)
	for _, sig := range []string{Sign("", a.UUID), Sign(secret, a.UUID)} {
		code, body, _ := e.do("GET", "/openstack/latest/meta_data.json", a.UUID, projectA, sig, "")
		if code != http.StatusForbidden || !strings.Contains(body, "Invalid proxy request signature.") {
			t.Errorf("GET with no secret set = %d %q, want 403", code, body)
		}
	}
}

func TestByAddress(t *testing.T) {
	var a *instances.Instance
	addresses := func(ctx context.Context, ip netip.Addr) (string, error) {
		if ip == netip.MustParseAddr("10.0.0.7") {
			return a.UUID, nil
		}
		return "", instances.ErrNotFound
	}
	e := newEnv(t, Options{Addresses: addresses, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	a = e.create("vm-a", projectA, nil)
	get := func(fwd string) (int, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/latest/meta-data/hostname", nil)
		if fwd != "" {
			req.Header.Set("X-Forwarded-For", fwd)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(data)
	}
	if code, body := get("10.0.0.7, 192.0.2.1"); code != 200 || body != "vm-a" {
		t.Errorf("through the trusted proxy for 10.0.0.7: %d %q", code, body)
	}
	if code, _ := get("10.0.0.8"); code != 404 {
		t.Errorf("for an unknown address: %d, want 404", code)
	}
	if code, _ := get(""); code != 404 {
		t.Errorf("from the proxy itself: %d, want 404", code)
	}
	// An untrusted caller's X-Forwarded-For is ignored.
	e2 := newEnv(t, Options{Addresses: addresses})
	a = e2.create("vm-a", projectA, nil)
	e = e2
	if code, _ := get("10.0.0.7"); code != 404 {
		t.Errorf("X-Forwarded-For from an untrusted caller: %d, want 404", code)
	}
}

func TestPassword(t *testing.T) {
	e := newEnv(t, Options{Secret: secret})
	a := e.create("vm-a", projectA, nil)
	b := e.create("vm-b", projectA, nil)
	const path = "/openstack/latest/password"
	pw := base64.StdEncoding.EncodeToString([]byte("encrypted-password"))

	if code, body, _ := e.do("POST", path, a.UUID, projectA, "", strings.Repeat("x", 1021)); code != 400 ||
		!strings.Contains(body, "Request is too large.") {
		t.Errorf("POST of 1021 bytes = %d %q, want 400", code, body)
	}
	if code, body, _ := e.do("POST", path, a.UUID, projectA, "", pw); code != 200 {
		t.Fatalf("POST password = %d %q", code, body)
	}
	if got := e.get(path, a); got != pw {
		t.Errorf("GET password = %q, want %q", got, pw)
	}
	if got := e.get(path, b); got != "" {
		t.Errorf("vm-b's password = %q, want none", got)
	}
	if code, _, _ := e.do("POST", path, a.UUID, projectA, "", "another"); code != http.StatusConflict {
		t.Errorf("second POST = %d, want 409", code)
	}
	if code, body, _ := e.do("PUT", path, a.UUID, projectA, "", "x"); code != 400 ||
		!strings.Contains(body, "GET and POST only are supported.") {
		t.Errorf("PUT = %d %q, want 400", code, body)
	}
	if got := e.get(path, a); got != pw {
		t.Errorf("password after the refused posts = %q", got)
	}
	p := Passwords{DB: e.store.DB()}
	if err := p.Clear(t.Context(), a.UUID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.do("POST", path, a.UUID, projectA, "", "new"); code != 200 {
		t.Errorf("POST after Clear = %d, want 200", code)
	}
}

func TestDeletedInstance(t *testing.T) {
	e := newEnv(t, Options{Secret: secret})
	a := e.create("vm-a", projectA, nil)
	if _, err := e.store.Destroy(t.Context(), a.UUID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.do("GET", "/openstack/latest/meta_data.json", a.UUID, projectA, "", ""); code != 404 {
		t.Errorf("deleted instance's metadata = %d, want 404", code)
	}
}

// TestVersionsMatchConfigDrive: every version listed is one the config
// drive builds.
func TestVersionsMatchConfigDrive(t *testing.T) {
	for _, v := range append(slices.Clone(openstackVersions), "latest") {
		if _, err := configdrive.MetaData(configdrive.Data{UUID: "x"}, v); err != nil {
			t.Errorf("configdrive.MetaData(%s) = %v", v, err)
		}
	}
	files, err := configdrive.Files(configdrive.Data{UUID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ec2VersionList {
		if !slices.ContainsFunc(files, func(f configdrive.File) bool { return f.Path == "ec2/"+v+"/meta-data.json" }) {
			t.Errorf("config drive has no ec2/%s/meta-data.json", v)
		}
	}
}
