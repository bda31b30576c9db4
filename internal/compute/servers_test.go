package compute

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func TestServerCreateQueuesBuild(t *testing.T) {
	a := newSrvAPI(t)
	ud := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "k1"}}, "2.10", "token=member").
		must(t, http.StatusCreated)
	r := a.call("POST", "/v2.1/servers", a.serverBody("web 1", map[string]any{
		"key_name": "k1", "user_data": ud, "metadata": map[string]any{"role": "web"}, "tags": []string{"b", "a"},
		"config_drive": true, "description": "first", "availability_zone": "nova",
	}), "2.52", "token=member")
	r.must(t, http.StatusAccepted)
	id := r.str("server.id")
	if !uuidLike(id) || len(r.str("server.adminPass")) != 12 || r.str("server.OS-DCF:diskConfig") != "MANUAL" {
		t.Fatalf("create answer %s", r.raw)
	}
	if sg := r.list("server.security_groups"); len(sg) != 1 || r.str("server.security_groups.0.name") != "default" {
		t.Fatalf("security_groups %s", r.raw)
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/v2.1/servers/"+id) {
		t.Fatalf("Location %q", loc)
	}
	task := a.nextTask(t)
	if task.Kind != tasks.Build || task.UUID != id || task.ProjectID != demoProject || task.UserID != "u-demo" ||
		task.RequestID == "" || task.AvailabilityZone != "nova" {
		t.Fatalf("task %+v", task)
	}
	a.noMoreTasks(t)

	s := a.call("GET", "/v2.1/servers/"+id, nil, "2.96", "token=member").must(t, http.StatusOK)
	for path, want := range map[string]any{
		"server.status": "BUILD", "server.OS-EXT-STS:vm_state": "building", "server.OS-EXT-STS:task_state": "scheduling",
		"server.OS-EXT-STS:power_state": 0.0, "server.name": "web 1", "server.tenant_id": demoProject,
		"server.user_id": "u-demo", "server.image.id": a.image, "server.flavor.original_name": "m1.tiny",
		"server.flavor.ram": 512.0, "server.flavor.vcpus": 1.0, "server.flavor.disk": 1.0, "server.key_name": "k1",
		"server.metadata.role": "web", "server.config_drive": "True", "server.description": "first",
		"server.OS-EXT-AZ:availability_zone": "nova", "server.progress": 0.0, "server.hostId": "",
		"server.locked": false, "server.pinned_availability_zone": "nova", "server.OS-EXT-SRV-ATTR:hostname": "web-1",
		"server.accessIPv4": "",
	} {
		if got := s.path(path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if tags := names2(s.list("server.tags")); tags != "a,b" {
		t.Errorf("tags %q", tags)
	}
	if s.has("server.OS-EXT-SRV-ATTR:host") || s.has("server.host_status") || s.has("server.fault") {
		t.Errorf("admin-only or error fields shown to a member: %s", s.raw)
	}
	if len(s.body["server"].(map[string]any)["addresses"].(map[string]any)) != 0 {
		t.Errorf("addresses %s", s.raw)
	}
	// Admins see the extended attributes; 2.1 shows the flavor by id.
	s = a.call("GET", "/v2.1/servers/"+id, nil, "2.3").must(t, http.StatusOK)
	if s.str("server.flavor.id") != "1" || !strings.HasSuffix(s.str("server.flavor.links.0.href"), "/flavors/1") ||
		s.str("server.OS-EXT-SRV-ATTR:user_data") != ud || s.path("server.OS-EXT-SRV-ATTR:host") != nil ||
		s.str("server.OS-EXT-SRV-ATTR:reservation_id") == "" || s.has("server.tags") || s.has("server.locked") {
		t.Fatalf("2.3 admin view %s", s.raw)
	}
	// The instance record has what the conductor needs.
	inst, err := a.svc.instances.Get(context.Background(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(inst.UserData) != "#!/bin/sh\necho hi\n" || inst.KeyData == "" || inst.Spec.Image.ID != a.image ||
		inst.Spec.Image.Size != 1024 || inst.Flavor.MemoryMB != 512 || inst.Hostname != "web-1" {
		t.Fatalf("instance %+v", inst)
	}
	act, err := a.svc.instances.ListActions(context.Background(), id, 0, "", time.Time{}, time.Time{})
	if err != nil || len(act) != 1 || act[0].Action != "create" || act[0].RequestID != task.RequestID {
		t.Fatalf("actions %+v %v", act, err)
	}
}

func names2(items []any) string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprint(it))
	}
	return strings.Join(out, ",")
}

func TestServerCreateRefused(t *testing.T) {
	a := newSrvAPI(t)
	private := a.images.put(t, "alt", "mine", []byte("x"), nil)
	queued, err := a.images.CreateImage(context.Background(), "admin", map[string]any{"name": "q", "visibility": "public",
		"disk_format": "raw", "container_format": "bare"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		ver   string
		extra map[string]any
		code  int
		msg   string
	}{
		{"unknown flavor", "2.37", map[string]any{"flavorRef": "99"}, 400, "Flavor 99 could not be found."},
		{"unknown image", "2.37", map[string]any{"imageRef": "6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70"}, 400, "Can not find requested image"},
		{"another project's image", "2.37", map[string]any{"imageRef": private}, 400, "Can not find requested image"},
		{"queued image", "2.37", map[string]any{"imageRef": queued}, 400, "Image " + queued + " is not active."},
		{"image above the flavor's disk", "2.37", map[string]any{"imageRef": a.big}, 400,
			"Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is 1073741824 bytes, minimum size is 2147483648 bytes."},
		{"networks required from 2.37", "2.37", map[string]any{"networks": nil}, 400,
			""},
		{"a network", "2.37", map[string]any{"networks": []any{map[string]any{"uuid": "6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70"}}}, 400,
			"Network 6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70 could not be found."},
		{"a port", "2.37", map[string]any{"networks": []any{map[string]any{"port": "6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70"}}}, 400,
			"Port id 6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70 could not be found."},
		{"bad user_data", "2.37", map[string]any{"user_data": "not base64!"}, 400, ""},
		{"unknown key", "2.37", map[string]any{"key_name": "nope"}, 400, "Invalid key_name provided."},
		{"unknown zone", "2.37", map[string]any{"availability_zone": "mars"}, 400, "The requested availability zone is not available"},
		{"forced host by a member", "2.37", map[string]any{"availability_zone": "nova:host1"}, 403, ""},
		{"volume", "2.37", map[string]any{"block_device_mapping_v2": []any{map[string]any{"source_type": "volume",
			"uuid": "6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70", "destination_type": "volume", "boot_index": 0}}}, 400,
			"Volume 6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70 could not be found."},
		{"min over max", "2.37", map[string]any{"min_count": 3, "max_count": 2}, 400, "min_count must be <= max_count"},
		{"unknown member", "2.37", map[string]any{"color": "red"}, 400, ""},
		{"tags before 2.52", "2.51", map[string]any{"tags": []string{"a"}}, 400, ""},
		{"bad tag", "2.52", map[string]any{"tags": []string{"a/b"}}, 400, ""},
		{"too many metadata items", "2.37", map[string]any{"metadata": manyItems(129)}, 403,
			"Maximum number of metadata items exceeds 128"},
		{"no name", "2.37", map[string]any{"name": nil}, 400, ""},
		{"bad image ref", "2.37", map[string]any{"imageRef": "abc"}, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.call("POST", "/v2.1/servers", a.serverBody("x", c.extra), c.ver, "token=member")
			name := "badRequest"
			if c.code == 403 {
				name = "forbidden"
			}
			r.fault(t, c.code, name, c.msg)
		})
	}
	a.noMoreTasks(t)
	if l := a.call("GET", "/v2.1/servers?all_tenants=1", nil).must(t, 200).list("servers"); len(l) != 0 {
		t.Fatalf("refused creates left servers: %v", l)
	}
}

func manyItems(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func TestServerImageTooBig(t *testing.T) {
	a := newSrvAPI(t)
	f := &Flavor{MemoryMB: 512, RootGB: 1}
	img := &ImageInfo{Image: instances.Image{Size: 1<<30 + 1}}
	err := a.svc.checkImageFlavor(tokens["member"], img, f)
	if !fault.Is(err, fault.BadRequest) || !strings.HasPrefix(err.Error(), "Flavor's disk is too small for requested image.") {
		t.Fatalf("err = %v", err)
	}
	img = &ImageInfo{Image: instances.Image{Size: 1 << 30, MinRAMMB: 1024}}
	if err := a.svc.checkImageFlavor(tokens["member"], img, f); err == nil || err.Error() != "Flavor's memory is too small for requested image." {
		t.Fatalf("min_ram err = %v", err)
	}
	zero := &Flavor{MemoryMB: 512}
	if err := a.svc.checkImageFlavor(tokens["member"], &ImageInfo{}, zero); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("zero disk as member err = %v", err)
	}
	if err := a.svc.checkImageFlavor(tokens["admin"], &ImageInfo{}, zero); err != nil {
		t.Fatalf("zero disk as admin err = %v", err)
	}
}

func TestServerQuota(t *testing.T) {
	a := newSrvAPI(t)
	a.call("PUT", "/v2.1/os-quota-sets/"+demoProject, map[string]any{"quota_set": map[string]any{"instances": 2}}).
		must(t, http.StatusOK)
	a.create(t, "member", "one", nil)
	r := a.call("POST", "/v2.1/servers", a.serverBody("two", map[string]any{"min_count": 2}), "2.37", "token=member")
	r.fault(t, 403, "forbidden", "Quota exceeded for instances: Requested 2, but already used 1 of 2 instances")
	// max_count above what is left takes what is left.
	r = a.call("POST", "/v2.1/servers", a.serverBody("more", map[string]any{"min_count": 1, "max_count": 5,
		"return_reservation_id": true}), "2.37", "token=member").must(t, http.StatusAccepted)
	resv := r.str("reservation_id")
	if !strings.HasPrefix(resv, "r-") || r.has("server") {
		t.Fatalf("reservation answer %s", r.raw)
	}
	a.nextTask(t)
	a.noMoreTasks(t)
	l := a.call("GET", "/v2.1/servers?reservation_id="+resv, nil, "token=member").must(t, 200).list("servers")
	if len(l) != 1 {
		t.Fatalf("reservation %s lists %d servers", resv, len(l))
	}
	r = a.call("POST", "/v2.1/servers", a.serverBody("three", nil), "2.37", "token=member")
	r.fault(t, 403, "forbidden", "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances")
	lim := a.call("GET", "/v2.1/limits", nil, "token=member").must(t, 200)
	if lim.num("limits.absolute.totalInstancesUsed") != 2 || lim.num("limits.absolute.totalCoresUsed") != 2 ||
		lim.num("limits.absolute.totalRAMUsed") != 1024 {
		t.Fatalf("limits %s", lim.raw)
	}
	// Cores: m1.medium has 2 vCPUs; 20 cores allow 10, here 9 are left.
	a.call("PUT", "/v2.1/os-quota-sets/"+altProject, map[string]any{"quota_set": map[string]any{"cores": 3}}).must(t, 200)
	a.create(t, "alt", "c1", map[string]any{"flavorRef": "3"})
	r = a.call("POST", "/v2.1/servers", a.serverBody("c2", map[string]any{"flavorRef": "3"}), "2.37", "token=alt")
	r.fault(t, 403, "forbidden", "Quota exceeded for cores: Requested 2, but already used 2 of 3 cores")
}

func TestServerMultiCreate(t *testing.T) {
	a := newSrvAPI(t)
	r := a.call("POST", "/v2.1/servers", a.serverBody("multi", map[string]any{"min_count": "3"}), "2.37", "token=member").
		must(t, http.StatusAccepted)
	seen := map[string]bool{}
	for range 3 {
		seen[a.nextTask(t).UUID] = true
	}
	if !seen[r.str("server.id")] || len(seen) != 3 {
		t.Fatalf("tasks for %v, answer %s", seen, r.raw)
	}
	d := a.call("GET", "/v2.1/servers/detail?sort_key=display_name&sort_dir=asc&all_tenants=1", nil, "2.3").must(t, 200)
	got := names(d.list("servers"), "name")
	if strings.Join(got, ",") != "multi-1,multi-2,multi-3" {
		t.Fatalf("names %v", got)
	}
	for i, s := range d.list("servers") {
		m := s.(map[string]any)
		if m["OS-EXT-SRV-ATTR:launch_index"] != float64(i) || m["OS-EXT-SRV-ATTR:reservation_id"] == "" {
			t.Fatalf("server %d: %v", i, m)
		}
	}
	r = a.call("POST", "/v2.1/servers", a.serverBody("h", map[string]any{"min_count": 2, "hostname": "h1"}), "2.90", "token=member")
	r.fault(t, 400, "badRequest", "")
}

func TestServerOtherProjectIs404(t *testing.T) {
	a := newSrvAPI(t)
	id := a.create(t, "member", "mine", nil)
	a.active(t, id)
	missing := "Instance " + id + " could not be found."
	for _, c := range []struct{ method, path, ver string }{
		{"GET", "/v2.1/servers/" + id, "2.1"},
		{"PUT", "/v2.1/servers/" + id, "2.1"},
		{"DELETE", "/v2.1/servers/" + id, "2.1"},
		{"GET", "/v2.1/servers/" + id + "/metadata", "2.1"},
		{"POST", "/v2.1/servers/" + id + "/metadata", "2.1"},
		{"DELETE", "/v2.1/servers/" + id + "/metadata/a", "2.1"},
		{"GET", "/v2.1/servers/" + id + "/tags", "2.26"},
		{"PUT", "/v2.1/servers/" + id + "/tags/x", "2.26"},
	} {
		var body any
		switch {
		case c.method == "PUT" && !strings.Contains(c.path, "tags"):
			body = map[string]any{"server": map[string]any{"name": "stolen"}}
		case c.method == "POST":
			body = map[string]any{"metadata": map[string]any{"a": "b"}}
		}
		a.call(c.method, c.path, body, c.ver, "token=alt").fault(t, 404, "itemNotFound", missing)
	}
	s := a.call("GET", "/v2.1/servers/"+id, nil, "token=member").must(t, 200)
	if s.str("server.name") != "mine" || s.str("server.status") != "ACTIVE" {
		t.Fatalf("server changed by another project: %s", s.raw)
	}
	if l := a.call("GET", "/v2.1/servers", nil, "token=alt").must(t, 200).list("servers"); len(l) != 0 {
		t.Fatalf("alt lists %v", l)
	}
	// An admin reaches it, and sees where it runs.
	s = a.call("GET", "/v2.1/servers/"+id, nil, "2.16").must(t, 200)
	if s.str("server.OS-EXT-SRV-ATTR:host") != "host1" || s.str("server.hostId") == "" || s.str("server.host_status") != "" {
		t.Fatalf("admin view %s", s.raw)
	}
	a.call("GET", "/v2.1/servers?all_tenants=1", nil, "token=member").fault(t, 403, "forbidden", "")
}

func TestServerHostStatus(t *testing.T) {
	a := newSrvAPI(t)
	id := a.create(t, "member", "s", nil)
	a.active(t, id)
	ctx := context.Background()
	if _, _, err := a.svc.instances.Heartbeat(ctx, "host1", "nova-compute", time.Now(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if s := a.call("GET", "/v2.1/servers/"+id, nil, "2.16").must(t, 200); s.str("server.host_status") != "UP" {
		t.Fatalf("host_status %s", s.raw)
	}
	if s := a.call("GET", "/v2.1/servers/detail", nil, "2.16", "token=member").must(t, 200); s.has("servers.0.host_status") {
		t.Fatalf("member sees host_status: %s", s.raw)
	}
	a.svc.now = func() time.Time { return time.Now().Add(5 * time.Minute) }
	if s := a.call("GET", "/v2.1/servers/detail?all_tenants=1", nil, "2.16").must(t, 200); s.str("servers.0.host_status") != "UNKNOWN" {
		t.Fatalf("host_status of a silent host %s", s.raw)
	}
}

func TestServerList(t *testing.T) {
	a := newSrvAPI(t)
	ids := map[string]string{}
	for _, n := range []string{"alpha", "alpine", "beta", "gamma"} {
		ids[n] = a.create(t, "member", n, map[string]any{"tags": []string{"t-" + n[:1], "all"}})
		time.Sleep(2 * time.Millisecond)
	}
	a.create(t, "alt", "alpha-alt", nil)
	a.active(t, ids["beta"])
	a.set(t, ids["gamma"], func(i *instances.Instance) { i.VMState, i.TaskState = instances.Error, "" })
	a.set(t, ids["alpine"], func(i *instances.Instance) { i.Locked, i.LockedBy = true, "owner" })

	list := func(query, ver string, token string) []string {
		t.Helper()
		r := a.call("GET", "/v2.1/servers"+query, nil, ver, "token="+token).must(t, 200)
		return names(r.list("servers"), "name")
	}
	for _, c := range []struct {
		query, ver, token, want string
	}{
		{"", "2.1", "member", "gamma,beta,alpine,alpha"},
		{"?name=^alp", "2.1", "member", "alpine,alpha"},
		{"?status=ACTIVE", "2.1", "member", "beta"},
		{"?status=ERROR&status=ACTIVE", "2.1", "member", "gamma,beta"},
		{"?status=BUILD", "2.1", "member", "alpine,alpha"},
		{"?sort_key=display_name&sort_dir=asc", "2.1", "member", "alpha,alpine,beta,gamma"},
		{"?tags=t-a", "2.26", "member", "alpine,alpha"},
		{"?tags=t-a,all", "2.26", "member", "alpine,alpha"},
		{"?tags-any=t-b,t-g", "2.26", "member", "gamma,beta"},
		{"?not-tags=t-a", "2.26", "member", "gamma,beta"},
		{"?not-tags-any=t-b,t-g", "2.26", "member", "alpine,alpha"},
		{"?tags=t-a", "2.25", "member", "gamma,beta,alpine,alpha"},
		{"?locked=true", "2.73", "member", "alpine"},
		{"?locked=false&sort_key=display_name&sort_dir=asc", "2.73", "member", "alpha,beta,gamma"},
		{"?flavor=1&image=" + a.image, "2.1", "member", "gamma,beta,alpine,alpha"},
		{"?flavor=2", "2.1", "member", ""},
		{"?host=host1", "2.1", "member", "gamma,beta,alpine,alpha"}, // not a user filter: ignored
		{"?host=host1", "2.1", "admin", ""},                         // admins' own project has none
		{"?host=host1&all_tenants=1", "2.1", "admin", "beta"},
		{"?all_tenants=1&name=alpha", "2.1", "admin", "alpha-alt,alpha"},
		{"?all_tenants=1&project_id=" + altProject, "2.1", "admin", "alpha-alt"},
		{"?all_tenants=&name=alpha", "2.1", "admin", "alpha-alt,alpha"}, // no value: on, as Nova's is_all_tenants
		{"?all_tenants&name=alpha", "2.1", "admin", "alpha-alt,alpha"},
		{"?all_tenants=0&name=alpha", "2.1", "admin", ""},
		{"?tenant_id=" + altProject, "2.1", "admin", ""}, // ignored without all_tenants
		{"?all_tenants=&tenant_id=" + altProject, "2.1", "admin", "alpha-alt"},
		{"?all_tenants=&tenant_id=" + adminProject, "2.1", "admin", ""},
		{"?status=UNKNOWN_STATUS", "2.1", "member", ""},
		{"?limit=0", "2.1", "member", ""},
		{"?foo=bar", "2.74", "member", "gamma,beta,alpine,alpha"},
	} {
		if got := strings.Join(list(c.query, c.ver, c.token), ","); got != c.want {
			t.Errorf("GET /servers%s at %s as %s = %q, want %q", c.query, c.ver, c.token, got, c.want)
		}
	}
	a.call("GET", "/v2.1/servers?all_tenants=", nil, "token=member").fault(t, 403, "forbidden", "")
	a.call("GET", "/v2.1/servers?all_tenants=maybe", nil, "token=admin").fault(t, 400, "badRequest", "")
	a.call("GET", "/v2.1/servers?status=nonsense", nil, "2.38", "token=member").fault(t, 400, "badRequest", "Invalid status value")
	a.call("GET", "/v2.1/servers?foo=bar", nil, "2.75", "token=member").fault(t, 400, "badRequest", "")
	a.call("GET", "/v2.1/servers?sort_key=host", nil, "token=member").fault(t, 403, "forbidden", "Only administrators can sort servers by host")
	a.call("GET", "/v2.1/servers?sort_key=nonsense", nil, "token=member").fault(t, 400, "badRequest", "")
	a.call("GET", "/v2.1/servers?sort_dir=up", nil, "token=member").fault(t, 400, "badRequest", "")
	a.call("GET", "/v2.1/servers?marker=6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70", nil, "token=member").
		fault(t, 400, "badRequest", "marker [6b4d1bd2-8ab6-4a3c-9c62-2a1c1e5d6f70] not found")
	a.call("GET", "/v2.1/servers?changes-since=yesterday", nil, "token=member").fault(t, 400, "badRequest", "")
	a.call("GET", "/v2.1/servers?metadata=x", nil, "token=admin").fault(t, 400, "badRequest", "Invalid filter field: metadata.")

	// Paging: limit and marker, with a next link while pages are full.
	r := a.call("GET", "/v2.1/servers/detail?limit=3&sort_key=display_name&sort_dir=asc", nil, "token=member").must(t, 200)
	if got := strings.Join(names(r.list("servers"), "name"), ","); got != "alpha,alpine,beta" {
		t.Fatalf("page 1 = %s", got)
	}
	next := r.str("servers_links.0.href")
	u, err := url.Parse(next)
	if err != nil || r.str("servers_links.0.rel") != "next" || !strings.Contains(u.Path, "/v2.1/servers/detail") ||
		u.Query().Get("marker") != ids["beta"] || u.Query().Get("limit") != "3" {
		t.Fatalf("next link %q", next)
	}
	r = a.call("GET", u.Path+"?"+u.RawQuery, nil, "token=member").must(t, 200)
	if got := strings.Join(names(r.list("servers"), "name"), ","); got != "gamma" || r.has("servers_links") {
		t.Fatalf("page 2 = %s (%s)", got, r.raw)
	}
	// Detail shows the fault of a server in ERROR.
	a.svc.instances.AddFault(context.Background(), ids["gamma"], instances.Fault{Code: 500, Message: "No valid host was found.",
		Details: "trace", Created: time.Now()})
	r = a.call("GET", "/v2.1/servers/detail?name=gamma", nil, "token=member").must(t, 200)
	if r.str("servers.0.fault.message") != "No valid host was found." || r.has("servers.0.fault.details") ||
		r.str("servers.0.status") != "ERROR" {
		t.Fatalf("fault view %s", r.raw)
	}
	r = a.call("GET", "/v2.1/servers/"+ids["gamma"], nil).must(t, 200)
	if r.str("server.fault.details") != "trace" {
		t.Fatalf("admin fault view %s", r.raw)
	}
}

func TestServerUpdate(t *testing.T) {
	a := newSrvAPI(t)
	id := a.create(t, "member", "old", nil)
	r := a.call("PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{"name": "new", "description": "d",
		"accessIPv4": "10.0.0.1"}}, "2.19", "token=member").must(t, 200)
	if r.str("server.name") != "new" || r.str("server.description") != "d" || r.str("server.accessIPv4") != "10.0.0.1" ||
		r.has("server.OS-EXT-STS:vm_state") || r.has("server.key_name") {
		t.Fatalf("update answer %s", r.raw)
	}
	r = a.call("PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{"hostname": "new-host"}}, "2.90",
		"token=member").must(t, 200)
	if r.str("server.OS-EXT-SRV-ATTR:hostname") != "new-host" || r.str("server.OS-EXT-STS:vm_state") != "building" {
		t.Fatalf("2.90 update answer %s", r.raw)
	}
	a.call("PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{"description": "d"}}, "2.18", "token=member").
		fault(t, 400, "badRequest", "")
	a.call("PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{"accessIPv4": "nope"}}, "token=member").
		fault(t, 400, "badRequest", "")
	a.call("PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{"name": "x"}}, "token=reader").
		fault(t, 403, "forbidden", "")
	if s := a.call("GET", "/v2.1/servers/"+id, nil, "2.19", "token=member"); s.str("server.name") != "new" {
		t.Fatalf("after refused updates %s", s.raw)
	}
}

func TestServerDelete(t *testing.T) {
	a := newSrvAPI(t)
	ctx := context.Background()
	// Never scheduled: deleted at once, no task.
	id := a.create(t, "member", "unscheduled", nil)
	a.call("DELETE", "/v2.1/servers/"+id, nil, "token=member").must(t, http.StatusNoContent)
	a.noMoreTasks(t)
	a.call("GET", "/v2.1/servers/"+id, nil, "token=member").fault(t, 404, "itemNotFound", "")
	if l := a.call("GET", "/v2.1/servers", nil, "token=member").list("servers"); len(l) != 0 {
		t.Fatalf("deleted server listed: %v", l)
	}
	if l := a.call("GET", "/v2.1/servers?deleted=true&all_tenants=1", nil).must(t, 200).list("servers"); len(l) != 1 {
		t.Fatalf("deleted=true lists %v", l)
	}
	if lim := a.call("GET", "/v2.1/limits", nil, "token=member"); lim.num("limits.absolute.totalInstancesUsed") != 0 {
		t.Fatalf("deleted server still counted: %s", lim.raw)
	}
	since := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	r := a.call("GET", "/v2.1/servers/detail?changes-since="+since, nil, "token=member").must(t, 200)
	if r.str("servers.0.id") != id || r.str("servers.0.status") != "DELETED" {
		t.Fatalf("changes-since does not show the deletion: %s", r.raw)
	}

	// On a live host: task deleting, and the conductor's task.
	if _, _, err := a.svc.instances.Heartbeat(ctx, "host1", "nova-compute", time.Now(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	id = a.create(t, "member", "running", nil)
	a.active(t, id)
	a.set(t, id, func(i *instances.Instance) { i.Locked, i.LockedBy = true, "admin" })
	a.call("DELETE", "/v2.1/servers/"+id, nil, "token=member").fault(t, 409, "conflictingRequest", "Instance "+id+" is locked")
	a.call("DELETE", "/v2.1/servers/"+id, nil, "token=reader").fault(t, 403, "forbidden", "")
	a.noMoreTasks(t)
	a.call("DELETE", "/v2.1/servers/"+id, nil, "token=admin").must(t, http.StatusNoContent)
	task := a.nextTask(t)
	if task.Kind != tasks.Delete || task.UUID != id {
		t.Fatalf("task %+v", task)
	}
	s := a.call("GET", "/v2.1/servers/"+id, nil).must(t, 200)
	if s.str("server.OS-EXT-STS:task_state") != "deleting" || s.str("server.status") != "ACTIVE" {
		t.Fatalf("deleting server %s", s.raw)
	}
	// A second delete while deleting does nothing more.
	a.call("DELETE", "/v2.1/servers/"+id, nil).must(t, http.StatusNoContent)
	a.noMoreTasks(t)

	// On a host whose compute service is down: local delete.
	id = a.create(t, "member", "stranded", nil)
	a.active(t, id)
	if _, _, err := a.svc.instances.Heartbeat(ctx, "host2", "nova-compute", time.Now().Add(-time.Hour), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	a.set(t, id, func(i *instances.Instance) { i.Host, i.Node = "host2", "host2" })
	a.call("DELETE", "/v2.1/servers/"+id, nil, "token=member").must(t, http.StatusNoContent)
	a.noMoreTasks(t)
	a.call("GET", "/v2.1/servers/"+id, nil, "token=member").must(t, 404)
}

func TestServerGroupsShown(t *testing.T) {
	a := newSrvAPI(t)
	g := &instances.ServerGroup{Name: "g", ProjectID: demoProject, UserID: "u-demo", Policy: "anti-affinity"}
	if err := a.svc.instances.CreateServerGroup(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	body := a.serverBody("grouped", nil)
	body["os:scheduler_hints"] = map[string]any{"group": g.UUID}
	r := a.call("POST", "/v2.1/servers", body, "2.71", "token=member").must(t, http.StatusAccepted)
	id := r.str("server.id")
	a.nextTask(t)
	s := a.call("GET", "/v2.1/servers/"+id, nil, "2.71", "token=member").must(t, 200)
	if names2(s.list("server.server_groups")) != g.UUID {
		t.Fatalf("server_groups %s", s.raw)
	}
	if d := a.call("GET", "/v2.1/servers/detail", nil, "2.71", "token=member").must(t, 200); d.has("servers.0.server_groups") {
		t.Fatalf("detail shows server_groups: %s", d.raw)
	}
	inst, _ := a.svc.instances.Get(context.Background(), id, false)
	if inst.Spec.Group != g.UUID {
		t.Fatalf("spec group %q", inst.Spec.Group)
	}
	// Another project's group is not found.
	body["os:scheduler_hints"] = map[string]any{"group": g.UUID}
	a.call("POST", "/v2.1/servers", body, "2.71", "token=alt").
		fault(t, 400, "badRequest", "Instance group "+g.UUID+" could not be found.")
}

func TestServerMetadata(t *testing.T) {
	a := newSrvAPI(t)
	id := a.create(t, "member", "md", map[string]any{"metadata": map[string]any{"a": "1"}})
	base := "/v2.1/servers/" + id + "/metadata"
	a.call("POST", base, map[string]any{"metadata": map[string]any{"b": "2"}}, "token=member").
		fault(t, 409, "conflictingRequest", "Cannot 'update metadata' instance "+id+" while it is in vm_state building")
	a.active(t, id)
	r := a.call("POST", base, map[string]any{"metadata": map[string]any{"b": "2"}}, "token=member").must(t, 200)
	if r.str("metadata.a") != "1" || r.str("metadata.b") != "2" {
		t.Fatalf("merge %s", r.raw)
	}
	r = a.call("PUT", base+"/c", map[string]any{"meta": map[string]any{"c": "3"}}, "token=member").must(t, 200)
	if r.str("meta.c") != "3" || len(r.body["meta"].(map[string]any)) != 1 {
		t.Fatalf("item put %s", r.raw)
	}
	a.call("PUT", base+"/c", map[string]any{"meta": map[string]any{"d": "3"}}, "token=member").
		fault(t, 400, "badRequest", "Request body and URI mismatch")
	a.call("PUT", base+"/c", map[string]any{"meta": map[string]any{"c": "3", "d": "4"}}, "token=member").
		fault(t, 400, "badRequest", "")
	a.call("POST", base, map[string]any{"metadata": map[string]any{"bad/key": "x"}}, "token=member").fault(t, 400, "badRequest", "")
	a.call("POST", base, map[string]any{"metadata": map[string]any{"k": strings.Repeat("v", 256)}}, "token=member").
		fault(t, 400, "badRequest", "")
	a.call("POST", base, map[string]any{"metadata": manyItems(126)}, "token=member").
		fault(t, 403, "forbidden", "Maximum number of metadata items exceeds 128")
	if r := a.call("GET", base+"/c", nil, "token=reader").must(t, 200); r.str("meta.c") != "3" {
		t.Fatalf("item get %s", r.raw)
	}
	a.call("GET", base+"/zzz", nil, "token=member").fault(t, 404, "itemNotFound", "Metadata item was not found")
	a.call("DELETE", base+"/a", nil, "token=member").must(t, 204)
	a.call("DELETE", base+"/a", nil, "token=member").fault(t, 404, "itemNotFound", "Metadata item was not found")
	a.call("POST", base, map[string]any{"metadata": map[string]any{"x": "y"}}, "token=reader").fault(t, 403, "forbidden", "")
	r = a.call("PUT", base, map[string]any{"metadata": map[string]any{"only": "this"}}, "token=member").must(t, 200)
	if len(r.body["metadata"].(map[string]any)) != 1 || r.str("metadata.only") != "this" {
		t.Fatalf("replace %s", r.raw)
	}
	if s := a.call("GET", "/v2.1/servers/"+id, nil, "token=member"); len(s.path("server.metadata").(map[string]any)) != 1 {
		t.Fatalf("server metadata %s", s.raw)
	}
	a.set(t, id, func(i *instances.Instance) { i.Locked, i.LockedBy = true, "owner" })
	a.call("DELETE", base+"/only", nil, "token=member").fault(t, 409, "conflictingRequest", "Instance "+id+" is locked")
}

func TestServerTags(t *testing.T) {
	a := newSrvAPI(t)
	id := a.create(t, "member", "tags", nil)
	base := "/v2.1/servers/" + id + "/tags"
	a.call("GET", base, nil, "2.25", "token=member").must(t, 404)
	a.call("PUT", base+"/x", nil, "2.26", "token=member").
		fault(t, 409, "conflictingRequest", "Cannot 'update tag' instance "+id+" while it is in vm_state building")
	a.active(t, id)
	r := a.call("PUT", base+"/x", nil, "2.26", "token=member").must(t, 201)
	if !strings.HasSuffix(r.header.Get("Location"), "/v2.1/servers/"+id+"/tags/x") {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	a.call("PUT", base+"/x", nil, "2.26", "token=member").must(t, 204)
	a.call("GET", base+"/x", nil, "2.26", "token=reader").must(t, 204)
	a.call("GET", base+"/y", nil, "2.26", "token=member").fault(t, 404, "itemNotFound", "Server "+id+" has no tag 'y'")
	a.call("PUT", base+"/a,b", nil, "2.26", "token=member").fault(t, 400, "badRequest", "")
	r = a.call("PUT", base, map[string]any{"tags": []string{"z", "y", "y"}}, "2.26", "token=member").must(t, 200)
	if names2(r.list("tags")) != "y,z" {
		t.Fatalf("replace %s", r.raw)
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	a.call("PUT", base, map[string]any{"tags": many}, "2.26", "token=member").fault(t, 400, "badRequest", "")
	a.call("PUT", base, map[string]any{"tags": many[:50]}, "2.26", "token=member").must(t, 200)
	a.call("PUT", base+"/one-more", nil, "2.26", "token=member").
		fault(t, 400, "badRequest", "The number of tags exceeded the per-server limit 50")
	a.call("DELETE", base+"/t0", nil, "2.26", "token=member").must(t, 204)
	a.call("DELETE", base+"/t0", nil, "2.26", "token=member").fault(t, 404, "itemNotFound", "")
	if l := a.call("GET", base, nil, "2.26", "token=member").must(t, 200).list("tags"); len(l) != 49 {
		t.Fatalf("%d tags", len(l))
	}
	a.call("DELETE", base, nil, "2.26", "token=member").must(t, 204)
	if s := a.call("GET", "/v2.1/servers/"+id, nil, "2.26", "token=member"); len(s.list("server.tags")) != 0 {
		t.Fatalf("tags left %s", s.raw)
	}
}

// [DEFAULT] default_schedule_zone: a server created without a zone is
// scheduled in it (not in a zone another aggregate made), and it must
// exist, as a requested one.
func TestServerCreateDefaultScheduleZone(t *testing.T) {
	a := newSrvAPI(t)
	a.svc.cfg.DefaultScheduleZone = "nova"
	r := a.call("POST", "/v2.1/servers", a.serverBody("z", nil), "2.37", "token=member").must(t, http.StatusAccepted)
	if task := a.nextTask(t); task.UUID != r.str("server.id") || task.AvailabilityZone != "nova" {
		t.Fatalf("task %+v", task)
	}
	inst, err := a.svc.instances.Get(context.Background(), r.str("server.id"), false)
	if err != nil || inst.Spec.AvailabilityZone != "nova" {
		t.Fatalf("request spec zone %q (%v), want nova", inst.Spec.AvailabilityZone, err)
	}
	a.svc.cfg.DefaultScheduleZone = "mars"
	a.call("POST", "/v2.1/servers", a.serverBody("z", nil), "2.37", "token=member").
		fault(t, 400, "badRequest", "The requested availability zone is not available")
	a.noMoreTasks(t)
}
