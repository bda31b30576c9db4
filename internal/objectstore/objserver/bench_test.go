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
// reads it back from one, reporting MB/s of one copy.
func BenchmarkLarge(b *testing.B) {
	c := newCluster(&testing.T{}, 3, 3)
	b.Cleanup(func() {
		for _, n := range c.nodes {
			n.srv.Close()
		}
	})
	const size = 256 << 20
	data := pattern(size)
	part := c.ring.Partition("AUTH_a", "c", "large")
	t := swift.Now().Internal()
	start := time.Now()
	var wg sync.WaitGroup
	for _, d := range c.ring.Primaries(part) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.node(d.Name)
			req, _ := http.NewRequest("PUT", n.srv.URL+"/object/"+d.Name+"/"+strconv.Itoa(part)+"/AUTH_a/c/large", bytes.NewReader(data))
			req.Header.Set("X-Timestamp", t)
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 201 {
				b.Errorf("PUT: %v %v", err, resp)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	b.ReportMetric(size/1e6/time.Since(start).Seconds(), "put-MB/s")
	n := c.node(c.ring.Primaries(part)[0].Name)
	start = time.Now()
	resp, err := http.Get(n.srv.URL + "/object/" + n.dev + "/" + strconv.Itoa(part) + "/AUTH_a/c/large")
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
