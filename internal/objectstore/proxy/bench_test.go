package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

// The proxy with real storage nodes, 4 KiB objects, parallel clients: the
// small-object path the load tool measures.
func BenchmarkSmallObjects(b *testing.B) {
	c := proxytest.Start(b)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/bench", alice, nil)
	data := bytes.Repeat([]byte("x"), 4096)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	do := func(method, path string, body []byte) int {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequest(method, c.URL+path, rd)
		req.Header.Set("X-Auth-Token", alice)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 100 {
		if st := do("PUT", a+"/bench/o"+strconv.Itoa(i), data); st != 201 {
			b.Fatalf("PUT: %d", st)
		}
	}
	var n atomic.Int64
	b.Run("PUT", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if st := do("PUT", a+"/bench/o"+strconv.FormatInt(n.Add(1)%100, 10), data); st != 201 {
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
				if st := do("GET", a+"/bench/o"+strconv.FormatInt(n.Add(1)%100, 10), nil); st != 200 {
					b.Fatalf("GET: %d", st)
				}
			}
		})
	})
}

// A 256 MiB object through the proxy and three real storage nodes.
func BenchmarkLargeObject(b *testing.B) {
	c := proxytest.Start(b, proxytest.Options{NodeTimeout: 30 * time.Second})
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/big", alice, nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 16<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		req := c.Request("PUT", a+"/big/o", alice, nil)
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.ContentLength = int64(len(data))
		resp, body := c.Send(req)
		if resp.StatusCode != 201 {
			b.Fatalf("PUT: %d %s", resp.StatusCode, body)
		}
		start := time.Now()
		resp, err := c.Client.Do(c.Request("GET", a+"/big/o", alice, nil))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n != int64(len(data)) {
			b.Fatalf("GET: %d %d", resp.StatusCode, n)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds()/1e6, "GET-MB/s")
	}
}
