package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bootTimes are one server's times from the start of its POST.
type bootTimes struct {
	post, active, marker time.Duration
	markerSpan           time.Duration // the marker came within ±markerSpan/2
}

// active measures POST -> ACTIVE (and -> the console marker) at each level.
func (r *computeRun) active(ctx context.Context, levels []int) error {
	for i := range r.f.warmup {
		t, err := r.boot(ctx)
		if err != nil {
			return fmt.Errorf("warm-up server %d: %w", i+1, err)
		}
		fmt.Fprintf(r.out, "warm-up %d (not counted): %s\n", i+1, t.String())
	}
	for _, conc := range levels {
		idx := make([]int, r.f.servers)
		var (
			mu    sync.Mutex
			times []bootTimes
		)
		t0 := time.Now()
		err := forEach(ctx, idx, conc, func(ctx context.Context, _ int) error {
			t, err := r.boot(ctx)
			if err != nil {
				return err
			}
			mu.Lock()
			times = append(times, t)
			mu.Unlock()
			fmt.Fprintf(r.out, "  %s\n", t.String())
			return nil
		})
		if err != nil {
			return err
		}
		el := time.Since(t0)
		col := func(get func(bootTimes) time.Duration) []time.Duration {
			var d []time.Duration
			for _, t := range times {
				d = append(d, get(t))
			}
			slices.Sort(d)
			return d
		}
		post, act, mark := col(func(t bootTimes) time.Duration { return t.post }), col(func(t bootTimes) time.Duration { return t.active }), col(func(t bootTimes) time.Duration { return t.marker })
		fmt.Fprintf(r.out, "concurrency %d: %d servers in %.2f s; POST p50 %s; POST->ACTIVE p50 %s, p99 %s, min %s, max %s\n",
			conc, len(times), el.Seconds(), ms(percentile(post, .5)), ms(percentile(act, .5)), ms(percentile(act, .99)), ms(act[0]), ms(act[len(act)-1]))
		line := fmt.Sprintf("RESULT active concurrency=%d servers=%d post_p50_ms=%.2f p50_ms=%.2f p99_ms=%.2f min_ms=%.2f max_ms=%.2f",
			conc, len(times), msf(percentile(post, .5)), msf(percentile(act, .5)), msf(percentile(act, .99)), msf(act[0]), msf(act[len(act)-1]))
		if r.f.marker != "" {
			fmt.Fprintf(r.out, "concurrency %d: POST->console marker p50 %s, p99 %s, min %s, max %s\n",
				conc, ms(percentile(mark, .5)), ms(percentile(mark, .99)), ms(mark[0]), ms(mark[len(mark)-1]))
			line += fmt.Sprintf(" marker_p50_ms=%.2f marker_p99_ms=%.2f marker_min_ms=%.2f marker_max_ms=%.2f",
				msf(percentile(mark, .5)), msf(percentile(mark, .99)), msf(mark[0]), msf(mark[len(mark)-1]))
		}
		fmt.Fprintln(r.out, line)
	}
	return nil
}

func (t bootTimes) String() string {
	s := fmt.Sprintf("POST %s, ACTIVE after %s", ms(t.post), ms(t.active))
	if t.marker > 0 {
		s += fmt.Sprintf(", console marker after %s (±%s)", ms(t.marker), ms(t.markerSpan/2))
	}
	return s
}

// boot creates one server, waits for ACTIVE (and the marker), deletes it
// and waits until it is gone (not timed).
func (r *computeRun) boot(ctx context.Context) (t bootTimes, err error) {
	t0 := time.Now()
	id, err := r.n.createServer(ctx, r.nextName(), r.args)
	if err != nil {
		return t, err
	}
	t.post = time.Since(t0)
	defer func() {
		if cerr := r.cleanupQuiet(ctx, id); err == nil {
			err = cerr
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, r.f.timeout)
	defer cancel()
	for {
		s, err := r.n.getServer(wctx, id)
		if err != nil {
			return t, err
		}
		if s.Status == "ACTIVE" {
			break
		}
		if s.Status == "ERROR" {
			return t, fmt.Errorf("server %s went to ERROR: %s", id, faultOf(s))
		}
		if wctx.Err() != nil {
			return t, fmt.Errorf("server %s still %s after %s", id, s.Status, r.f.timeout)
		}
		sleep(wctx, r.f.poll)
	}
	t.active = time.Since(t0)
	if r.f.marker == "" {
		return t, nil
	}
	marker := strings.ReplaceAll(r.f.marker, "{id}", id)
	var last string // the last output that came
	var lastErr error
	// The line came out between the start of the last poll that did not
	// have it (lo) and the answer of the first that did: the midpoint is
	// the estimate, so that slow polls (which leave the guest the CPU)
	// cost accuracy but add no bias.
	lo := t.active
	for {
		sent := time.Since(t0)
		out, err := r.n.consoleOutput(wctx, id, 200)
		if err == nil && strings.Contains(out, marker) {
			hi := time.Since(t0)
			t.marker, t.markerSpan = (lo+hi)/2, hi-lo
			return t, nil
		}
		lo = sent
		if err == nil {
			last = out
		} else if wctx.Err() == nil {
			lastErr = err
		}
		if wctx.Err() != nil {
			why := fmt.Sprintf("last output %q", tail(last, 300))
			if last == "" && lastErr != nil {
				why = lastErr.Error()
			}
			return t, fmt.Errorf("server %s: no console line %q after %s (%s)", id, marker, r.f.timeout, why)
		}
		sleep(wctx, r.f.consolePoll)
	}
}

func (r *computeRun) cleanupQuiet(ctx context.Context, id string) error {
	if r.f.keep {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.f.timeout)
	defer cancel()
	if err := r.n.deleteServer(ctx, id); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return r.n.waitGone(ctx, []string{id}, 1, 20*time.Millisecond, r.f.timeout)
}

func faultOf(s server) string {
	if s.Fault != nil && s.Fault.Message != "" {
		return s.Fault.Message
	}
	return "(no fault)"
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// scale creates r.f.servers servers with conc workers as fast as the cloud
// answers, while a watcher lists the servers still in BUILD; a server is
// done when a list that started after its POST was answered no longer has
// it (its time is taken when that list's answer arrives: an upper bound).
func (r *computeRun) scale(ctx context.Context, conc int) error {
	n := r.f.servers
	var (
		mu       sync.Mutex
		postAt   = make(map[string]time.Time, n) // id -> start of its POST
		pending  = make(map[string]bool)         // posted, not yet seen out of BUILD
		doneAt   = make(map[string]time.Duration, n)
		postLat  = make([]time.Duration, 0, n)
		postErrs int
		firstErr error
		lastPost time.Time
	)
	var next atomic.Int64
	start := time.Now()
	var creators sync.WaitGroup
	for range conc {
		creators.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				t := time.Now()
				id, err := r.n.createServer(ctx, r.nextName(), r.args)
				d := time.Since(t)
				mu.Lock()
				if err != nil {
					if ctx.Err() == nil {
						postErrs++
						if firstErr == nil {
							firstErr = err
						}
					}
				} else {
					postAt[id], pending[id] = t, true
					postLat = append(postLat, d)
					lastPost = time.Now()
				}
				mu.Unlock()
			}
		})
	}
	creatorsDone := make(chan struct{})
	go func() { creators.Wait(); close(creatorsDone) }()

	// The watcher.
	var watchErr error
	lastProgress := time.Now()
	lists := 0
watch:
	for {
		// Whether the creators are done, before the snapshot of pending:
		// after it, a last POST could be missed.
		finished := false
		select {
		case <-creatorsDone:
			finished = true
		default:
		}
		mu.Lock()
		snap := make([]string, 0, len(pending))
		for id := range pending {
			snap = append(snap, id)
		}
		mu.Unlock()
		if finished && len(snap) == 0 {
			break
		}
		if len(snap) > 0 {
			// The plain list (ids only) costs the cloud far less than the
			// detailed one, which the measurement would otherwise compete
			// with; every 25th is detailed, to check the filter.
			detail := lists%25 == 0
			building, err := r.n.listServers(ctx, url.Values{"status": {"BUILD"}}, detail)
			if err != nil {
				watchErr = err
				break
			}
			lists++
			at := time.Now()
			in := make(map[string]bool, len(building))
			for _, s := range building {
				if detail && s.Status != "BUILD" {
					watchErr = fmt.Errorf("GET /servers/detail?status=BUILD returned server %s in %s: the status filter is not applied", s.ID, s.Status)
					break watch
				}
				in[s.ID] = true
			}
			mu.Lock()
			for _, id := range snap {
				if !in[id] {
					doneAt[id] = at.Sub(postAt[id])
					delete(pending, id)
					lastProgress = at
				}
			}
			mu.Unlock()
		}
		if time.Since(lastProgress) > r.f.timeout {
			watchErr = fmt.Errorf("%d servers still in BUILD, none left it for %s", len(snap), r.f.timeout)
			break
		}
		if ctx.Err() != nil {
			watchErr = ctx.Err()
			break
		}
		sleep(ctx, r.f.poll)
	}
	<-creatorsDone
	end := lastProgress
	if watchErr != nil {
		end = time.Now() // not all done: the rate is over the whole wait
	}
	created := make([]string, 0, len(postAt))
	for id := range postAt {
		created = append(created, id)
	}
	defer func() {
		if err := r.cleanup(ctx, created, conc); err != nil {
			fmt.Fprintf(r.out, "cleanup: %v\n", err)
		}
	}()

	// Which of the servers that left BUILD are in ERROR.
	failed := map[string]string{}
	if watchErr == nil {
		errs, err := r.n.listServers(ctx, url.Values{"status": {"ERROR"}}, true)
		if err != nil {
			return err
		}
		for _, s := range errs {
			if _, ok := postAt[s.ID]; ok && s.Status == "ERROR" {
				failed[s.ID] = faultOf(s)
			}
		}
	}
	var act []time.Duration
	for id, d := range doneAt {
		if _, bad := failed[id]; !bad {
			act = append(act, d)
		}
	}
	slices.Sort(act)
	slices.Sort(postLat)
	el := end.Sub(start)
	postEl := lastPost.Sub(start)
	rate := 0.0
	if el > 0 {
		rate = float64(len(act)) / el.Seconds()
	}
	fmt.Fprintf(r.out, "created %d of %d servers with %d workers in %.2f s (%.1f POST/s), POST p50 %s, p99 %s, %d POST errors\n",
		len(postLat), n, conc, postEl.Seconds(), float64(len(postLat))/max(postEl.Seconds(), 1e-9), ms(percentile(postLat, .5)), ms(percentile(postLat, .99)), postErrs)
	if firstErr != nil {
		fmt.Fprintf(r.out, "  first POST error: %v\n", firstErr)
	}
	fmt.Fprintf(r.out, "%d ACTIVE, %d ERROR, %d still BUILD; %.2f s from the first POST to the last server out of BUILD (or the give-up): %.1f servers/s ACTIVE\n",
		len(act), len(failed), len(postAt)-len(doneAt), el.Seconds(), rate)
	fmt.Fprintf(r.out, "POST->ACTIVE p50 %s, p99 %s, max %s (%d lists of BUILD servers, every %s)\n",
		ms(percentile(act, .5)), ms(percentile(act, .99)), ms(percentile(act, 1)), lists, r.f.poll)
	for id, msg := range failed {
		fmt.Fprintf(r.out, "  e.g. server %s in ERROR: %s\n", id, msg)
		break
	}
	fmt.Fprintf(r.out, "RESULT scale servers=%d workers=%d active=%d error=%d post_errors=%d servers_per_s=%.1f p50_ms=%.2f p99_ms=%.2f post_per_s=%.1f post_p50_ms=%.2f post_p99_ms=%.2f\n",
		n, conc, len(act), len(failed), postErrs, rate, msf(percentile(act, .5)), msf(percentile(act, .99)),
		float64(len(postLat))/max(postEl.Seconds(), 1e-9), msf(percentile(postLat, .5)), msf(percentile(postLat, .99)))
	switch {
	case watchErr != nil:
		return watchErr
	case postErrs > 0 || len(failed) > 0:
		return fmt.Errorf("%d POSTs failed, %d servers in ERROR", postErrs, len(failed))
	}
	return nil
}
