package instances

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

var _ = addCases(
	storeCase{"Services", testServices},
	storeCase{"ConcurrentHeartbeats", testConcurrentHeartbeats},
	storeCase{"ComputeNodes", testComputeNodes},
)

func testServices(t *testing.T, s *Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	svc, created, err := s.Heartbeat(ctx, "h1", "nova-compute", t0, 10*time.Second)
	if err != nil || !created {
		t.Fatalf("first heartbeat: %+v %v %v", svc, created, err)
	}
	if svc.ID == 0 || svc.UUID == "" || svc.Host != "h1" || svc.Binary != "nova-compute" || svc.Topic != "compute" ||
		svc.Disabled || svc.ForcedDown || !svc.LastSeenUp.Equal(t0) || svc.ReportInterval != 10*time.Second ||
		!svc.CreatedAt.Equal(t0) || !svc.UpdatedAt.IsZero() {
		t.Errorf("new service %+v", svc)
	}
	again, created, err := s.Heartbeat(ctx, "h1", "nova-compute", t0.Add(10*time.Second), 5*time.Second)
	if err != nil || created || again.ID != svc.ID || again.UUID != svc.UUID ||
		!again.LastSeenUp.Equal(t0.Add(10*time.Second)) || again.ReportInterval != 5*time.Second || again.UpdatedAt.IsZero() {
		t.Errorf("second heartbeat: %+v %v %v", again, created, err)
	}
	s.Heartbeat(ctx, "h2", "nova-compute", t0, 10*time.Second)
	s.Heartbeat(ctx, "ctl", "nova-scheduler", t0, 10*time.Second)
	s.Heartbeat(ctx, "ctl", "nova-conductor", t0, 10*time.Second)

	list := func(host, binary string) []string {
		t.Helper()
		l, err := s.ListServices(ctx, host, binary)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, v := range l {
			out = append(out, v.Host+"/"+v.Binary)
		}
		return out
	}
	if got := list("", ""); !cmp.Equal(got, []string{"h1/nova-compute", "h2/nova-compute", "ctl/nova-scheduler", "ctl/nova-conductor"}) {
		t.Errorf("all services %v", got)
	}
	if got := list("ctl", ""); !cmp.Equal(got, []string{"ctl/nova-scheduler", "ctl/nova-conductor"}) {
		t.Errorf("services of ctl %v", got)
	}
	if got := list("", "nova-compute"); !cmp.Equal(got, []string{"h1/nova-compute", "h2/nova-compute"}) {
		t.Errorf("compute services %v", got)
	}
	if got := list("h1", "nova-scheduler"); len(got) != 0 {
		t.Errorf("no such services %v", got)
	}

	for _, ref := range []string{svc.UUID, strconv.FormatInt(svc.ID, 10)} {
		if got, err := s.GetService(ctx, ref); err != nil || got.ID != svc.ID {
			t.Errorf("GetService(%s) = %+v, %v", ref, got, err)
		}
	}
	_, err = s.GetService(ctx, uuid.NewString())
	wantErr(t, "GetService(unknown uuid)", err, ErrNotFound)
	_, err = s.GetService(ctx, "9999")
	wantErr(t, "GetService(unknown id)", err, ErrNotFound)

	reason := ptr("maintenance")
	up, err := s.UpdateService(ctx, svc.ID, ptr(true), &reason, nil)
	if err != nil || !up.Disabled || up.DisabledReason == nil || *up.DisabledReason != "maintenance" || up.ForcedDown {
		t.Errorf("disable: %+v %v", up, err)
	}
	up, err = s.UpdateService(ctx, svc.ID, nil, nil, ptr(true))
	if err != nil || !up.Disabled || up.DisabledReason == nil || !up.ForcedDown {
		t.Errorf("force down: %+v %v", up, err)
	}
	var none *string
	up, err = s.UpdateService(ctx, svc.ID, ptr(false), &none, ptr(false))
	if err != nil || up.Disabled || up.DisabledReason != nil || up.ForcedDown {
		t.Errorf("enable: %+v %v", up, err)
	}
	// A heartbeat leaves the operator's settings alone.
	s.UpdateService(ctx, svc.ID, ptr(true), &reason, nil)
	if hb, _, _ := s.Heartbeat(ctx, "h1", "nova-compute", t0.Add(time.Minute), 10*time.Second); hb == nil || !hb.Disabled || *hb.DisabledReason != "maintenance" {
		t.Errorf("heartbeat of a disabled service: %+v", hb)
	}
	_, err = s.UpdateService(ctx, 9999, ptr(true), nil, nil)
	wantErr(t, "UpdateService(unknown)", err, ErrNotFound)

	// Deleting a compute service takes its nodes (and aggregate places).
	s.PutComputeNode(ctx, ComputeNode{Host: "h1", HypervisorHostname: "h1"})
	s.PutComputeNode(ctx, ComputeNode{Host: "h2", HypervisorHostname: "h2"})
	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteService twice", s.DeleteService(ctx, svc.ID), ErrNotFound)
	if nodes, _ := s.ListComputeNodes(ctx, ""); len(nodes) != 1 || nodes[0].Host != "h2" {
		t.Errorf("nodes after deleting h1's service: %+v", nodes)
	}
	if got := list("", ""); !cmp.Equal(got, []string{"h2/nova-compute", "ctl/nova-scheduler", "ctl/nova-conductor"}) {
		t.Errorf("services after delete %v", got)
	}
	// It comes back as a new service on its next heartbeat.
	if back, created, err := s.Heartbeat(ctx, "h1", "nova-compute", t0, time.Second); err != nil || !created || back.ID == svc.ID || back.Disabled {
		t.Errorf("heartbeat after delete: %+v %v %v", back, created, err)
	}
}

func testConcurrentHeartbeats(t *testing.T, s *Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	creates := map[string]int{}
	for h := range 8 {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				host := fmt.Sprint("h", h)
				_, created, err := s.Heartbeat(ctx, host, "nova-compute", time.Now(), time.Second)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if created {
					creates[host]++
				}
			}()
		}
	}
	wg.Wait()
	l, err := s.ListServices(ctx, "", "")
	if err != nil || len(l) != 8 {
		t.Errorf("%d services, %v; want 8", len(l), err)
	}
	for h := range 8 {
		if n := creates[fmt.Sprint("h", h)]; n != 1 {
			t.Errorf("h%d created %d times", h, n)
		}
	}
}

func testComputeNodes(t *testing.T, s *Store) {
	ctx := context.Background()
	rp := uuid.NewString()
	n, err := s.PutComputeNode(ctx, ComputeNode{UUID: rp, Host: "h1", HypervisorHostname: "h1.example",
		HypervisorType: "QEMU", HypervisorVersion: 8002000, VCPUs: 4, MemoryMB: 8192, LocalGB: 100,
		CPUInfo: `{"arch":"x86_64"}`, HostIP: "192.0.2.1"})
	if err != nil || n.ID == 0 || n.UUID != rp || n.VCPUs != 4 || n.CreatedAt.IsZero() || !n.UpdatedAt.IsZero() {
		t.Fatalf("new node %+v %v", n, err)
	}
	up, err := s.PutComputeNode(ctx, ComputeNode{Host: "h1", HypervisorHostname: "h1.example", HypervisorType: "QEMU",
		VCPUs: 8, MemoryMB: 4096, LocalGB: 50, HostIP: "192.0.2.2"})
	if err != nil || up.ID != n.ID || up.UUID != rp || up.VCPUs != 8 || up.MemoryMB != 4096 || up.HostIP != "192.0.2.2" ||
		up.UpdatedAt.IsZero() || !up.CreatedAt.Equal(n.CreatedAt) {
		t.Errorf("updated node %+v %v", up, err)
	}
	// Sent again with its own UUID: still an update.
	if again, err := s.PutComputeNode(ctx, ComputeNode{UUID: rp, Host: "h1", HypervisorHostname: "h1.example", VCPUs: 2}); err != nil || again.ID != n.ID || again.VCPUs != 2 {
		t.Errorf("put with own uuid: %+v %v", again, err)
	}
	_, err = s.PutComputeNode(ctx, ComputeNode{UUID: rp, Host: "h2", HypervisorHostname: "h2"})
	wantErr(t, "PutComputeNode(another node's uuid)", err, ErrConflict)
	n2, err := s.PutComputeNode(ctx, ComputeNode{Host: "h2", HypervisorHostname: "h2"})
	if err != nil || n2.UUID == "" || n2.UUID == rp {
		t.Errorf("node without uuid: %+v %v", n2, err)
	}
	if l, err := s.ListComputeNodes(ctx, ""); err != nil || len(l) != 2 || l[0].UUID != rp || l[1].UUID != n2.UUID {
		t.Errorf("all nodes %+v %v", l, err)
	}
	if l, err := s.ListComputeNodes(ctx, "h2"); err != nil || len(l) != 1 || l[0].Host != "h2" {
		t.Errorf("nodes of h2 %+v %v", l, err)
	}
	for _, ref := range []string{rp, strconv.FormatInt(n.ID, 10)} {
		if got, err := s.GetComputeNode(ctx, ref); err != nil || got.UUID != rp || got.HypervisorHostname != "h1.example" {
			t.Errorf("GetComputeNode(%s) = %+v, %v", ref, got, err)
		}
	}
	_, err = s.GetComputeNode(ctx, uuid.NewString())
	wantErr(t, "GetComputeNode(unknown)", err, ErrNotFound)

	// Instances on a host.
	a := newInstance("p1", "a")
	a.Host = "h1"
	create(t, s, a)
	b := newInstance("p2", "b")
	b.Host = "h1"
	create(t, s, b)
	gone := newInstance("p1", "gone")
	gone.Host = "h1"
	create(t, s, gone)
	s.Destroy(ctx, gone.UUID)
	other := newInstance("p1", "other")
	other.Host = "h2"
	create(t, s, other)
	if got, err := s.HostInstances(ctx, "h1"); err != nil || !cmp.Equal(got, []string{a.UUID, b.UUID}) {
		t.Errorf("HostInstances(h1) = %v, %v", got, err)
	}
	if got, err := s.HostInstances(ctx, "h9"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("HostInstances(h9) = %v, %v", got, err)
	}
}
