package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// The proxy alone, in front of in-memory nodes: its own cost per request.
func BenchmarkProxyOverhead(b *testing.B) {
	c := newFakeCluster(b, 3, 2*time.Second)
	data := bytes.Repeat([]byte("x"), 4096)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	do := func(method, path string, body []byte) int {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequest(method, c.proxy.URL+path, rd)
		req.Header.Set("X-Auth-Token", "alice")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := do("PUT", "/v1/AUTH_alice/bench", nil); st != 201 {
		b.Fatal(st)
	}
	for i := range 100 {
		if st := do("PUT", "/v1/AUTH_alice/bench/o"+strconv.Itoa(i), data); st != 201 {
			b.Fatalf("PUT: %d", st)
		}
	}
	var n atomic.Int64
	b.Run("PUT", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if st := do("PUT", "/v1/AUTH_alice/bench/o"+strconv.FormatInt(n.Add(1)%100, 10), data); st != 201 {
					b.Fatalf("PUT: %d", st)
				}
			}
		})
	})
	b.Run("GET", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if st := do("GET", "/v1/AUTH_alice/bench/o"+strconv.FormatInt(n.Add(1)%100, 10), nil); st != 200 {
					b.Fatalf("GET: %d", st)
				}
			}
		})
	})
}
