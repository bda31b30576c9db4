package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// TestManyFakeAgents runs 1,000 agents of fake hosts in one process, as
// `nimbus serve compute-agent --driver fake --fake-hosts 1000` does: one
// bus connection, one shared image cache, no instances directory. It
// reports what an agent costs and checks that their heartbeats spread
// over the interval instead of arriving together.
func TestManyFakeAgents(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	b, err := bus.Open(ctx, bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	const interval = 2 * time.Second
	var mu sync.Mutex
	beats := map[string][]time.Time{}
	stopSub, err := b.Subscribe(rpc.HeartbeatSubject, func(nt bus.Notification) {
		hb, err := rpc.DecodeHeartbeat(nt)
		if err != nil {
			t.Errorf("heartbeat: %v", err)
			return
		}
		mu.Lock()
		beats[hb.Host] = append(beats[hb.Host], hb.At) // when sent: delivery may bunch them
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopSub()
	images := newMemImages()
	cache, err := NewImageCache(filepath.Join(dir, "image-cache"), nil)
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	start := time.Now()
	life, stopAll := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		a, err := New(Options{
			Host: fmt.Sprintf("fake-%04d", i), Bus: b,
			Driver:     fake.New(fake.Config{Host: hypervisor.Host{Hostname: fmt.Sprintf("fake-%04d", i)}}),
			ImageCache: cache, Images: images, HeartbeatInterval: interval, HostIP: "192.0.2.1",
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := a.Run(life); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	defer func() {
		stopAll()
		wg.Wait()
	}()
	// Every agent serves: a build on each of a few hosts, the image
	// downloaded once for all of them.
	c := rpc.Client{Bus: b}
	for i := 0; i < n; i += n / 10 {
		host := fmt.Sprintf("fake-%04d", i)
		var rep rpc.Reply
		for deadline := time.Now().Add(30 * time.Second); ; {
			rep, err = c.Call(t.Context(), host, rpc.Request{Op: rpc.BuildAndRun, Instance: rpc.Instance{UUID: fmt.Sprintf("vm-%d", i),
				Flavor: &rpc.Flavor{VCPUs: 1, RAM: 64, Disk: 1}}, Image: &rpc.Image{ID: "cirros"}})
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil || rep.PowerState != hypervisor.Running {
			t.Fatalf("build on %s: %+v, %v", host, rep, err)
		}
	}
	started := time.Since(start)
	if got := images.count("cirros"); got != 1 {
		t.Errorf("image fetched %d times by %d agents sharing a cache, want once", got, n/10)
	}

	// Two intervals of heartbeats: every host is heard, and after the
	// first round the beats spread over the interval.
	time.Sleep(2*interval + interval/4)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perAgent := float64(runtime.NumGoroutine()-goroutines) / float64(n)
	t.Logf("%d agents: started and serving in %v; %.1f goroutines and %.1f KiB heap each",
		n, started.Round(time.Millisecond), perAgent, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1024/float64(n))
	if perAgent > 10 {
		t.Errorf("%.1f goroutines per agent, want at most 10", perAgent)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(beats) != n {
		t.Errorf("heartbeats from %d hosts, want %d", len(beats), n)
	}
	// Each host's second beat falls at a random point of the interval
	// after its first (sent as it starts): count the gaps in tenths of
	// the interval.
	var buckets [10]int
	for host, at := range beats {
		if len(at) < 2 {
			t.Errorf("%s beat %d times in %v at a %v interval", host, len(at), 2*interval, interval)
			continue
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap > interval+interval/2 {
				t.Errorf("%s: %v between heartbeats at a %v interval", host, gap, interval)
			}
		}
		k := int(at[1].Sub(at[0]) * 10 / interval)
		buckets[min(k, 9)]++
	}
	t.Logf("second heartbeats by tenth of the interval: %v", buckets)
	for k, c := range buckets {
		if c > n/3 {
			t.Errorf("%d of %d hosts' second heartbeats in tenth %d of the interval: not spread", c, n, k)
		}
	}
}
