package compute

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestQuotaSetShowPerMicroversion(t *testing.T) {
	a := newAPI(t)
	want := map[string]float64{
		"cores": 20, "instances": 10, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
		"server_groups": 10, "server_group_members": 10, "injected_files": 5, "injected_file_content_bytes": 10240,
		"injected_file_path_bytes": 255, "fixed_ips": -1, "floating_ips": -1, "security_groups": -1,
		"security_group_rules": -1,
	}
	r := a.call("GET", "/v2.1/os-quota-sets/"+demoProject, nil, "token=member").must(t, 200)
	if r.str("quota_set.id") != demoProject {
		t.Errorf("id %v", r.path("quota_set.id"))
	}
	for k, v := range want {
		if r.num("quota_set."+k) != v {
			t.Errorf("2.1 %s = %v, want %v", k, r.path("quota_set."+k), v)
		}
	}
	r36 := a.call("GET", "/v2.1/os-quota-sets/"+demoProject, nil, "2.36").must(t, 200)
	if r36.has("quota_set.floating_ips") || !r36.has("quota_set.injected_files") {
		t.Errorf("2.36: %s", r36.raw)
	}
	r57 := a.call("GET", "/v2.1/os-quota-sets/"+demoProject, nil, "2.57").must(t, 200)
	if r57.has("quota_set.injected_files") || r57.has("quota_set.security_groups") || len(r57.body["quota_set"].(map[string]any)) != 8 {
		t.Errorf("2.57: %s", r57.raw)
	}
	// Readers of other projects may not look.
	a.call("GET", "/v2.1/os-quota-sets/"+demoProject, nil, "token=alt").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.")
	a.call("GET", "/v2.1/os-quota-sets/no-such-project", nil).fault(t, 400, "badRequest", "Project ID no-such-project is not a valid project.")
	d := a.call("GET", "/v2.1/os-quota-sets/"+demoProject+"/defaults", nil, "token=alt").must(t, 200)
	if d.num("quota_set.cores") != 20 || d.str("quota_set.id") != demoProject {
		t.Errorf("defaults: %s", d.raw)
	}
}

func TestQuotaSetUpdateAndDelete(t *testing.T) {
	a := newAPI(t)
	path := "/v2.1/os-quota-sets/" + demoProject
	u := a.call("PUT", path, map[string]any{"quota_set": map[string]any{"cores": 45, "ram": "1024", "instances": -1}}).must(t, 200)
	if u.num("quota_set.cores") != 45 || u.num("quota_set.ram") != 1024 || u.num("quota_set.instances") != -1 || u.has("quota_set.id") {
		t.Errorf("update: %s", u.raw)
	}
	if s := a.call("GET", path, nil, "token=reader").must(t, 200); s.num("quota_set.cores") != 45 {
		t.Errorf("after update: %s", s.raw)
	}
	// Other projects keep the defaults.
	if s := a.call("GET", "/v2.1/os-quota-sets/"+altProject, nil, "token=alt").must(t, 200); s.num("quota_set.cores") != 20 {
		t.Errorf("alt: %s", s.raw)
	}
	a.call("PUT", path, map[string]any{"quota_set": map[string]any{"cores": 1}}, "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-quota-sets:update to be performed.")
	for name, body := range map[string]any{
		"below -1":     map[string]any{"quota_set": map[string]any{"cores": -2}},
		"text":         map[string]any{"quota_set": map[string]any{"cores": "many"}},
		"float":        map[string]any{"quota_set": map[string]any{"cores": 1.5}},
		"too big":      map[string]any{"quota_set": map[string]any{"cores": 1 << 31}},
		"unknown":      map[string]any{"quota_set": map[string]any{"gpus": 1}},
		"no quota_set": map[string]any{"quota": map[string]any{"cores": 1}},
	} {
		if r := a.call("PUT", path, body); r.code != 400 {
			t.Errorf("%s: %d %s", name, r.code, r.raw)
		}
	}
	// The network quotas are refused from 2.36, as the file ones from 2.57.
	a.call("PUT", path, map[string]any{"quota_set": map[string]any{"floating_ips": 1}}, "2.35").must(t, 200)
	a.call("PUT", path, map[string]any{"quota_set": map[string]any{"floating_ips": 1}}, "2.36").must(t, 400)
	a.call("PUT", path, map[string]any{"quota_set": map[string]any{"injected_files": 1}}, "2.56").must(t, 200)
	a.call("PUT", path, map[string]any{"quota_set": map[string]any{"injected_files": 1}}, "2.57").must(t, 400)

	// User quotas: default to the project's; cannot exceed what the
	// project has left unless forced.
	user := path + "?user_id=u-demo"
	if s := a.call("GET", user, nil).must(t, 200); s.num("quota_set.cores") != 45 {
		t.Errorf("user default: %s", s.raw)
	}
	a.call("PUT", user, map[string]any{"quota_set": map[string]any{"cores": 30}}).must(t, 200)
	a.call("PUT", path+"?user_id=u-reader", map[string]any{"quota_set": map[string]any{"cores": 20}}).fault(t, 400, "badRequest",
		"Quota limit 20 for cores must be less than or equal to 15.")
	// Nor may the project's go below what its users were given.
	a.call("PUT", path, map[string]any{"quota_set": map[string]any{"cores": 10}}).fault(t, 400, "badRequest",
		"Quota limit 10 for cores must be greater than or equal to already used and reserved 30.")
	a.call("PUT", path+"?user_id=u-reader", map[string]any{"quota_set": map[string]any{"cores": 20, "force": true}}).must(t, 200)
	if s := a.call("GET", user, nil).must(t, 200); s.num("quota_set.cores") != 30 {
		t.Errorf("user quota: %s", s.raw)
	}

	a.call("DELETE", user, nil).must(t, 202)
	if s := a.call("GET", user, nil).must(t, 200); s.num("quota_set.cores") != 45 {
		t.Errorf("after user delete: %s", s.raw)
	}
	a.call("DELETE", path, nil, "token=member").must(t, 403)
	a.call("DELETE", path, nil).must(t, 202)
	if s := a.call("GET", path, nil).must(t, 200); s.num("quota_set.cores") != 20 || s.num("quota_set.instances") != 10 {
		t.Errorf("after delete: %s", s.raw)
	}
}

func TestQuotaDetailAndUsage(t *testing.T) {
	a := newAPI(t)
	// What servers will register: 3 instances and 6 cores in the demo
	// project, 1 of them the demo user's.
	a.svc.AddUsageCounter(func(ctx context.Context, _ Querier, projectID, userID string) (map[string]int64, error) {
		if projectID != demoProject {
			return nil, nil
		}
		if userID != "" {
			return map[string]int64{"instances": 1, "cores": 2}, nil
		}
		return map[string]int64{"instances": 3, "cores": 6}, nil
	})
	d := a.call("GET", "/v2.1/os-quota-sets/"+demoProject+"/detail", nil, "token=member", "2.57").must(t, 200)
	if d.num("quota_set.instances.in_use") != 3 || d.num("quota_set.instances.limit") != 10 || !d.has("quota_set.instances.reserved") ||
		d.num("quota_set.key_pairs.in_use") != 0 || d.has("quota_set.floating_ips") {
		t.Errorf("detail: %s", d.raw)
	}
	if u := a.call("GET", "/v2.1/os-quota-sets/"+demoProject+"/detail?user_id=u-demo", nil).must(t, 200); u.num("quota_set.cores.in_use") != 2 {
		t.Errorf("user detail: %s", u.raw)
	}
	l := a.call("GET", "/v2.1/limits", nil, "token=member").must(t, 200)
	if l.num("limits.absolute.totalInstancesUsed") != 3 || l.num("limits.absolute.totalCoresUsed") != 6 || len(l.list("limits.rate")) != 0 {
		t.Errorf("limits: %s", l.raw)
	}
	// A project limit below usage is refused.
	a.call("PUT", "/v2.1/os-quota-sets/"+demoProject, map[string]any{"quota_set": map[string]any{"instances": 2}}).fault(t, 400, "badRequest",
		"Quota limit 2 for instances must be greater than or equal to already used and reserved 3.")

	// CheckQuota sees the project and the user.
	err := a.svc.db.Tx(context.Background(), func(tx *sql.Tx) error {
		return a.svc.CheckQuota(context.Background(), tx, demoProject, "u-demo", map[string]int64{"instances": 8, "cores": 1})
	})
	var oq *OverQuotaError
	if !errors.As(err, &oq) || !slices.Equal(oq.Overs, []string{"instances"}) || oq.Used["instances"] != 3 || oq.Allowed["instances"] != 10 {
		t.Errorf("CheckQuota = %v", err)
	}
	err = a.svc.db.Tx(context.Background(), func(tx *sql.Tx) error {
		return a.svc.CheckQuota(context.Background(), tx, demoProject, "u-demo", map[string]int64{"instances": 7})
	})
	if err != nil {
		t.Errorf("CheckQuota within limits = %v", err)
	}
}

func TestLimitsPerMicroversion(t *testing.T) {
	a := newAPI(t)
	r := a.call("GET", "/v2.1/limits", nil, "token=member").must(t, 200)
	for k, v := range map[string]float64{"maxTotalCores": 20, "maxTotalInstances": 10, "maxTotalRAMSize": 51200, "maxTotalKeypairs": 100,
		"maxServerMeta": 128, "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240, "maxSecurityGroups": -1,
		"maxTotalFloatingIps": -1, "maxServerGroups": 10, "maxServerGroupMembers": 10, "totalRAMUsed": 0, "totalFloatingIpsUsed": 0} {
		if r.num("limits.absolute."+k) != v || !r.has("limits.absolute."+k) {
			t.Errorf("2.1 %s = %v, want %v", k, r.path("limits.absolute."+k), v)
		}
	}
	r57 := a.call("GET", "/v2.1/limits", nil, "token=member", "2.57").must(t, 200)
	got := []string{}
	for k := range r57.body["limits"].(map[string]any)["absolute"].(map[string]any) {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"maxServerGroupMembers", "maxServerGroups", "maxServerMeta", "maxTotalCores", "maxTotalInstances",
		"maxTotalKeypairs", "maxTotalRAMSize", "totalCoresUsed", "totalInstancesUsed", "totalRAMUsed", "totalServerGroupsUsed"}
	if !slices.Equal(got, want) {
		t.Errorf("2.57 keys %v, want %v", got, want)
	}
	a.call("PUT", "/v2.1/os-quota-sets/"+altProject, map[string]any{"quota_set": map[string]any{"cores": 7}}).must(t, 200)
	if l := a.call("GET", "/v2.1/limits?tenant_id="+altProject, nil).must(t, 200); l.num("limits.absolute.maxTotalCores") != 7 {
		t.Errorf("admin's view of alt: %s", l.raw)
	}
	a.call("GET", "/v2.1/limits?tenant_id="+altProject, nil, "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:limits:other_project to be performed.")
	a.call("GET", "/v2.1/limits?foo=bar", nil, "2.75").must(t, 400)
}

func TestQuotaClassSets(t *testing.T) {
	a := newAPI(t)
	r := a.call("GET", "/v2.1/os-quota-class-sets/default", nil).must(t, 200)
	if r.str("quota_class_set.id") != "default" || r.num("quota_class_set.cores") != 20 || r.has("quota_class_set.server_groups") {
		t.Errorf("2.1: %s", r.raw)
	}
	if r50 := a.call("GET", "/v2.1/os-quota-class-sets/default", nil, "2.50").must(t, 200); !r50.has("quota_class_set.server_groups") ||
		r50.has("quota_class_set.floating_ips") {
		t.Errorf("2.50: %s", r50.raw)
	}
	a.call("GET", "/v2.1/os-quota-class-sets/default", nil, "token=member").must(t, 403)
	u := a.call("PUT", "/v2.1/os-quota-class-sets/default", map[string]any{"quota_class_set": map[string]any{"cores": 64, "instances": 30}}, "2.57").must(t, 200)
	if u.num("quota_class_set.cores") != 64 || u.has("quota_class_set.id") {
		t.Errorf("update: %s", u.raw)
	}
	// The default class is every project's default.
	if s := a.call("GET", "/v2.1/os-quota-sets/"+demoProject, nil, "token=member").must(t, 200); s.num("quota_set.cores") != 64 ||
		s.num("quota_set.instances") != 30 {
		t.Errorf("project after class update: %s", s.raw)
	}
	if d := a.call("GET", "/v2.1/os-quota-sets/"+demoProject+"/defaults", nil).must(t, 200); d.num("quota_set.cores") != 64 {
		t.Errorf("defaults after class update: %s", d.raw)
	}
	a.call("PUT", "/v2.1/os-quota-class-sets/default", map[string]any{"quota_class_set": map[string]any{"injected_files": 1}}, "2.57").must(t, 400)
	a.call("PUT", "/v2.1/os-quota-class-sets/default", map[string]any{"quota_class_set": map[string]any{"cores": 1}}, "token=member").must(t, 403)
}

type fakeZones []ZoneService

func (z fakeZones) ZoneServices(ctx context.Context) ([]ZoneService, error) { return z, nil }

func TestAvailabilityZones(t *testing.T) {
	a := newAPI(t)
	// No service registry yet: the default zone.
	l := a.call("GET", "/v2.1/os-availability-zone", nil, "token=member").must(t, 200)
	if len(l.list("availabilityZoneInfo")) != 1 || l.str("availabilityZoneInfo.0.zoneName") != "nova" ||
		l.path("availabilityZoneInfo.0.zoneState.available") != true || l.path("availabilityZoneInfo.0.hosts") != nil {
		t.Errorf("list: %s", l.raw)
	}
	a.call("GET", "/v2.1/os-availability-zone/detail", nil, "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-availability-zone:detail to be performed.")

	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	a.svc.SetZoneSource(fakeZones{
		{Host: "ctl", Binary: "nova-scheduler", Up: true, Updated: now},
		{Host: "c1", Binary: "nova-compute", Up: true, Updated: now},
		{Host: "c2", Binary: "nova-compute", Zone: "az2", Up: false},
		{Host: "c3", Binary: "nova-compute", Zone: "az3", Disabled: true},
	})
	l = a.call("GET", "/v2.1/os-availability-zone", nil, "token=member").must(t, 200)
	if got := names(l.list("availabilityZoneInfo"), "zoneName"); !slices.Equal(got, []string{"az2", "nova", "az3"}) {
		t.Errorf("zones %v", got)
	}
	if l.path("availabilityZoneInfo.2.zoneState.available") != false {
		t.Errorf("az3 has only a disabled host: %s", l.raw)
	}
	d := a.call("GET", "/v2.1/os-availability-zone/detail", nil).must(t, 200)
	if got := names(d.list("availabilityZoneInfo"), "zoneName"); !slices.Equal(got, []string{"az2", "internal", "nova", "az3"}) {
		t.Errorf("detail zones %v", got)
	}
	if d.path("availabilityZoneInfo.2.hosts.c1.nova-compute.available") != true ||
		d.str("availabilityZoneInfo.2.hosts.c1.nova-compute.updated_at") != "2024-05-01T12:00:00.000000" ||
		d.path("availabilityZoneInfo.0.hosts.c2.nova-compute.available") != false ||
		d.path("availabilityZoneInfo.1.hosts.ctl.nova-scheduler.active") != true ||
		d.path("availabilityZoneInfo.3.hosts") != nil {
		t.Errorf("detail: %s", d.raw)
	}
}

// Reading limits counts usage without the write lock: it answers while a
// server create (or any writer) holds it.
func TestLimitsDoNotWaitForWriters(t *testing.T) {
	a := newAPI(t)
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.svc.db.Tx(context.Background(), func(*sql.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	start := time.Now()
	l := a.call("GET", "/v2.1/limits", nil, "token=member").must(t, 200)
	close(release)
	if took := time.Since(start); took > 2*time.Second || !l.has("limits.absolute.totalInstancesUsed") {
		t.Errorf("limits took %s with a writer holding the lock: %s", took, l.raw)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
