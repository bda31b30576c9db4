package objserver

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// benchOps writes (or reads) 4 KiB objects to all three replicas at once,
// as the proxy does, from 16 workers; b.N objects in all.
func benchOps(b *testing.B, size int, read bool) {
	c := newCluster(&testing.T{}, 3, 3)
	b.Cleanup(func() {
		for _, n := range c.nodes {
			n.srv.Close()
		}
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	data := pattern(size)
	var next atomic.Int64
	op := func(method string, i int64) {
		name := "o" + strconv.FormatInt(i, 10)
		part := c.ring.Partition("AUTH_a", "c", name)
		var wg sync.WaitGroup
		t := swift.Now().Internal()
		for _, d := range c.ring.Primaries(part) {
			if read {
				// One replica serves a read.
				if d.ID != c.ring.Primaries(part)[0].ID {
					continue
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := c.node(d.Name)
				var body io.Reader
				if method == "PUT" {
					body = bytes.NewReader(data)
				}
				req, _ := http.NewRequest(method, n.srv.URL+"/object/"+d.Name+"/"+strconv.Itoa(part)+"/AUTH_a/c/"+name, body)
				req.Header.Set("X-Timestamp", t)
				req.Header.Set("Content-Type", "application/octet-stream")
				cn := c.nodes[(part)%3]
				req.Header.Set("X-Container-Host", cn.addr)
				req.Header.Set("X-Container-Device", cn.dev)
				req.Header.Set("X-Container-Partition", "1")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					b.Errorf("%s: %d", method, resp.StatusCode)
				}
			}()
		}
		wg.Wait()
	}
	if read {
		for i := range int64(b.N) {
			op("PUT", i)
		}
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if read {
					op("GET", i)
				} else {
					op("PUT", i)
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

func BenchmarkPut4K(b *testing.B) { benchOps(b, 4096, false) }
func BenchmarkGet4K(b *testing.B) { benchOps(b, 4096, true) }
func BenchmarkPut1M(b *testing.B) { benchOps(b, 1<<20, false) }
func BenchmarkGet1M(b *testing.B) { benchOps(b, 1<<20, true) }

// BenchmarkLarge writes one 256 MiB object to three replicas at once and
// reads it back from one, reporting MB/s of one copy: "three" is three
// nodes of one device each, "node" one node with three devices as `nimbus
// up` runs it (the replicas share the MD5 work).
func BenchmarkLarge(b *testing.B) {
	b.Run("three", func(b *testing.B) {
		c := newCluster(&testing.T{}, 3, 3)
		b.Cleanup(func() {
			for _, n := range c.nodes {
				n.srv.Close()
			}
		})
		url := func(dev string) string { return c.node(dev).srv.URL }
		benchLarge(b, c.ring, url)
	})
	b.Run("node", func(b *testing.B) {
		srv, rg := newNode(b, 3)
		benchLarge(b, rg, func(string) string { return srv.URL })
	})
}

func benchLarge(b *testing.B, rg *ring.Ring, url func(dev string) string) {
	const size = 256 << 20
	data := pattern(size)
	part := rg.Partition("AUTH_a", "c", "large")
	path := func(dev string) string {
		return url(dev) + "/object/" + dev + "/" + strconv.Itoa(part) + "/AUTH_a/c/large"
	}
	b.SetBytes(size)
	for b.Loop() {
		t := swift.Now().Internal()
		start := time.Now()
		var wg sync.WaitGroup
		for _, d := range rg.Primaries(part) {
			wg.Go(func() {
				req, _ := http.NewRequest("PUT", path(d.Name), bytes.NewReader(data))
				req.Header.Set("X-Timestamp", t)
				req.Header.Set("Content-Type", "application/octet-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 201 {
					b.Errorf("PUT: %v %v", err, resp)
					return
				}
				resp.Body.Close()
			})
		}
		wg.Wait()
		b.ReportMetric(size/1e6/time.Since(start).Seconds(), "put-MB/s")
		start = time.Now()
		resp, err := http.Get(path(rg.Primaries(part)[0].Name))
		if err != nil {
			b.Fatal(err)
		}
		got, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got != size {
			b.Fatalf("GET %d bytes", got)
		}
		b.ReportMetric(size/1e6/time.Since(start).Seconds(), "get-MB/s")
	}
}
