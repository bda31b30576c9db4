package scheduler

import (
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

// TestScale schedules NIMBUS_SCALE_SERVERS servers (10,000) over
// NIMBUS_SCALE_HOSTS fake-sized hosts (1,000) in placement, with 64 at
// once (NIMBUS_SCALE_CONCURRENCY), sharing candidates for
// NIMBUS_SCALE_CACHE (a duration; none by default), and reports servers per second and latency percentiles. Opt-in:
// NIMBUS_SCALE=1.
func TestScale(t *testing.T) {
	if os.Getenv("NIMBUS_SCALE") == "" {
		t.Skip("NIMBUS_SCALE=1 runs the scale test")
	}
	hosts, servers, conc := envInt("NIMBUS_SCALE_HOSTS", 1000), envInt("NIMBUS_SCALE_SERVERS", 10000), envInt("NIMBUS_SCALE_CONCURRENCY", 64)
	e := newEnv(t, 0, 0, 0, 0)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 1; i <= hosts; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e.addHost(i, 64, 256*1024, 2000, "fake")
		})
	}
	wg.Wait()
	t.Logf("%d hosts in placement in %v", hosts, time.Since(start))
	ttl, _ := time.ParseDuration(os.Getenv("NIMBUS_SCALE_CACHE"))
	s, err := New(Options{Hosts: e.hosts, Placement: e.pl, CandidateCacheTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	insts := make([]*instances.Instance, servers)
	for i := range insts {
		insts[i] = e.inst()
	}
	lat := make([]time.Duration, servers)
	var next atomic.Int64
	var failed atomic.Int64
	start = time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= servers {
					return
				}
				t0 := time.Now()
				if _, err := s.Select(t.Context(), insts[i], small, nil); err != nil {
					failed.Add(1)
					t.Errorf("select %d: %v", i, err)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	slices.Sort(lat)
	t.Logf("candidate cache %v: %d servers on %d hosts, %d at once: %.0f servers/s, p50 %v, p99 %v, failed %d",
		ttl, servers, hosts, conc, float64(servers)/took.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100], failed.Load())
	u, _ := e.pl.Usages(t.Context(), "p1", "")
	if u["VCPU"] != int64(servers) {
		t.Errorf("placement usage %v, want %d VCPU", u, servers)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
