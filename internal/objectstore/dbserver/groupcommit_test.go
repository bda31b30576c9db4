package dbserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentUpdatesAreGroupCommitted(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "a", "busy")
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1))
	d, _, err := c.nodes[0].srv.dbs.acquire(context.Background(), dbPathOf(c, 0, "a", "busy"), kindContainer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.nodes[0].srv.dbs.release(d)
	before := d.commits.Load()

	const n = 200
	var wg sync.WaitGroup
	var failed atomic.Int32
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("PUT", c.nodes[0].http.URL+c.containerPath(0, "a", "busy", fmt.Sprintf("o%03d", i)), nil)
			req.Header.Set("X-Timestamp", tsAt(2+i))
			req.Header.Set("X-Size", strconv.Itoa(i))
			req.Header.Set("X-Content-Type", "text/plain")
			req.Header.Set("X-Etag", "e")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusCreated {
				failed.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	close(start)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d updates failed", f, n)
	}
	// Every answered update is visible at once.
	names := c.names(0, cp, "")
	if len(names) != n || !slices.IsSorted(names) {
		t.Fatalf("listing has %d names, want %d", len(names), n)
	}
	h := c.must(http.StatusNoContent, 0, "HEAD", cp).header
	if h.Get("X-Container-Object-Count") != strconv.Itoa(n) || h.Get("X-Container-Bytes-Used") != strconv.Itoa(n*(n-1)/2) {
		t.Fatalf("stats %s objects %s bytes", h.Get("X-Container-Object-Count"), h.Get("X-Container-Bytes-Used"))
	}
	commits := d.commits.Load() - before
	t.Logf("%d updates in %d transactions", n, commits)
	if commits >= n {
		t.Errorf("%d concurrent updates took %d transactions: not grouped", n, commits)
	}
}

// TestUpdateLatencyUnderLoad reports how long object row updates take
// with many writers on a few containers (not a pass/fail timing: the
// numbers go to the log).
func TestUpdateLatencyUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	for _, workers := range []int{16, 64} {
		t.Run(strconv.Itoa(workers), func(t *testing.T) { updateLoad(t, workers) })
	}
}

func updateLoad(t *testing.T, workers int) {
	c := newCluster(t, 1)
	const containers, perWorker = 4, 100
	for i := range containers {
		c.must(http.StatusCreated, 0, "PUT", c.containerPath(0, "a", "c"+strconv.Itoa(i)), "X-Timestamp", tsAt(1))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	began := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perWorker {
				cont := "c" + strconv.Itoa((w+k)%containers)
				req, _ := http.NewRequest("PUT", c.nodes[0].http.URL+c.containerPath(0, "a", cont, fmt.Sprintf("w%d-%d", w, k)), nil)
				req.Header.Set("X-Timestamp", tsAt(2+k))
				req.Header.Set("X-Size", "4096")
				req.Header.Set("X-Content-Type", "application/octet-stream")
				req.Header.Set("X-Etag", "d41d8cd98f00b204e9800998ecf8427e")
				t0 := time.Now()
				resp, err := client.Do(req)
				d := time.Since(t0)
				if err != nil || resp.StatusCode != http.StatusCreated {
					t.Errorf("update: %v %v", err, resp)
					return
				}
				resp.Body.Close()
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := time.Since(began)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		t.Fatal("no updates")
	}
	t.Logf("%d updates by %d workers on %d containers: %.0f/s, p50 %v, p99 %v", len(lat), workers, containers,
		float64(len(lat))/total.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100])
}
