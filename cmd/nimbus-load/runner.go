package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errStop, returned by a scenario, ends that worker without counting an
// error (e.g. nothing left to delete).
var errStop = errors.New("scenario done")

// A scenario is one kind of request, sent over and over by every worker.
type scenario struct {
	name string
	do   func(ctx context.Context, c *http.Client) error
}

// result is what one scenario did at one concurrency level.
type result struct {
	scenario    string
	concurrency int
	ok          int           // requests answered as expected
	errors      int           // transport errors and unexpected answers
	elapsed     time.Duration // from the first request to the last answer
	p50, p99    time.Duration // over the requests answered as expected
	firstErr    error
}

// reqPerSec counts only requests answered as expected.
func (r result) reqPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// newClient returns a client tuned so that it is not the bottleneck: one
// kept-alive connection per worker, no proxy, no compression.
func newClient(concurrency int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// measure runs sc with concurrency workers for warmup (not counted), then
// for dur. Requests still in flight at the end are waited for and counted.
func measure(ctx context.Context, sc scenario, concurrency int, warmup, dur, timeout time.Duration) result {
	client := newClient(concurrency, timeout)
	defer client.CloseIdleConnections()

	if warmup > 0 {
		drive(ctx, sc, client, concurrency, time.Now().Add(warmup))
	}
	start := time.Now()
	workers := drive(ctx, sc, client, concurrency, start.Add(dur))
	res := result{scenario: sc.name, concurrency: concurrency, elapsed: time.Since(start)}

	var lat []time.Duration
	for _, w := range workers {
		lat = append(lat, w.lat...)
		res.errors += w.errors
		if res.firstErr == nil {
			res.firstErr = w.firstErr
		}
	}
	res.ok = len(lat)
	slices.Sort(lat)
	res.p50 = percentile(lat, 0.50)
	res.p99 = percentile(lat, 0.99)
	return res
}

type worker struct {
	lat      []time.Duration
	errors   int
	firstErr error
}

// drive sends sc's request from n goroutines until end, each waiting for its
// answer before sending the next.
func drive(ctx context.Context, sc scenario, client *http.Client, n int, end time.Time) []*worker {
	workers := make([]*worker, n)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{lat: make([]time.Duration, 0, 1024)}
		workers[i] = w
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				t := time.Now()
				err := sc.do(ctx, client)
				d := time.Since(t)
				if errors.Is(err, errStop) {
					return // the scenario has nothing left to do
				}
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: neither a success nor a server error
					}
					w.errors++
					if w.firstErr == nil {
						w.firstErr = err
					}
					continue
				}
				w.lat = append(w.lat, d)
			}
		})
	}
	wg.Wait()
	return workers
}

// percentile is the nearest-rank q-quantile of sorted latencies.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// parseLevels reads "1,8,32".
func parseLevels(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("concurrency %q: want a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no concurrency level in %q", s)
	}
	return out, nil
}
