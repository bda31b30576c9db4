package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type computeFlags struct {
	keystoneCreds
	computeURL, imageURL string
	image, flavor        string
	networks             string
	microversion         string
	concurrency          string
	servers, warmup      int
	poll, consolePoll    time.Duration
	timeout              time.Duration
	marker               string
	unlimitedQuota       bool
	keep, configDrive    bool
	name                 string
}

const computeUsage = `usage: nimbus-load compute MODE [flags]

modes:
  post    POST /servers latency (p50, p99) at each --concurrency: --servers
          creates per level; the servers are left to settle (BUILD ends),
          then deleted, and the next level starts once they are gone.
  active  time from POST /servers to ACTIVE, polling GET /servers/{id}
          every --poll; --warmup servers first are not counted (the first
          boot caches the image on the host). With --marker, also the time
          to a line of the guest's console (os-getConsoleOutput).
  scale   --servers servers created as fast as the cloud takes them by
          --concurrency workers, while one watcher lists the servers still
          in BUILD every --poll: servers/s that reach ACTIVE, POST->ACTIVE
          p50/p99, then all deleted.

Each mode prints a RESULT line for scripts. The servers get --image and
--flavor (by default the smallest active image and the smallest flavor) and
networks "none" (microversion 2.37). The project's instance, core and RAM
quotas are lifted first (as admin; see --unlimited-quota).

Flags:
`

// computeCmd measures the Compute API: create latency, time to ACTIVE,
// and servers per second at scale.
func computeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stdout, computeUsage)
			return 0
		}
		fmt.Fprint(stderr, computeUsage)
		return 2
	}
	mode := args[0]
	defaults := map[string]struct {
		servers, warmup int
		concurrency     string
		poll            time.Duration
	}{
		"post":   {100, 0, "1,8,32", 50 * time.Millisecond},
		"active": {10, 1, "1", 10 * time.Millisecond},
		"scale":  {10000, 0, "64", 20 * time.Millisecond},
	}
	d, ok := defaults[mode]
	if !ok {
		fmt.Fprintf(stderr, "nimbus-load compute: unknown mode %q\n\n%s", mode, computeUsage)
		return 2
	}
	var f computeFlags
	fs := flag.NewFlagSet("nimbus-load compute "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.addFlags(fs, "http://127.0.0.1:5000/v3", "project that owns the servers")
	fs.StringVar(&f.computeURL, "compute-url", "", "compute endpoint (…/v2.1); default: the public one of the token's catalog")
	fs.StringVar(&f.imageURL, "image-url", "", "image endpoint; default: the public one of the token's catalog")
	fs.StringVar(&f.image, "image", "", "image id or name; default: the smallest active image")
	fs.StringVar(&f.flavor, "flavor", "", "flavor id or name; default: the smallest flavor")
	fs.StringVar(&f.networks, "networks", "none", `the servers' "networks": none, auto, or "" for none sent (before 2.37)`)
	fs.StringVar(&f.microversion, "microversion", "2.37", "compute microversion of every request")
	fs.StringVar(&f.concurrency, "concurrency", d.concurrency, "workers: levels for post and active (e.g. 1,8,32), one number for scale")
	fs.IntVar(&f.servers, "servers", d.servers, "servers to create (per level for post and active)")
	fs.IntVar(&f.warmup, "warmup", d.warmup, "servers created first and not counted (active)")
	fs.DurationVar(&f.poll, "poll", d.poll, "interval of the polls for the servers' status")
	fs.DurationVar(&f.consolePoll, "console-poll", 200*time.Millisecond, "active --marker: interval of os-getConsoleOutput; the line's time is the midpoint between the last poll without it and the first with it (fast polls take CPU from a TCG guest)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long a server may take to leave BUILD (or to show --marker)")
	fs.StringVar(&f.marker, "marker", "", `active: also wait for this console line ("{id}" is replaced with the server's id), e.g. "nimbus-guest: instance {id}"`)
	fs.BoolVar(&f.unlimitedQuota, "unlimited-quota", true, "set the project's instances, cores and ram quotas to -1 first (needs admin)")
	fs.BoolVar(&f.configDrive, "config-drive", false, "give the servers a config drive (the test guest prints its line from it)")
	fs.BoolVar(&f.keep, "keep", false, "do not delete the servers")
	fs.StringVar(&f.name, "name", "load", "server name prefix")
	fs.Usage = func() {
		fmt.Fprint(stderr, computeUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nimbus-load compute: unexpected arguments %q\n", fs.Args())
		return 2
	}
	levels, err := parseLevels(f.concurrency)
	if err == nil && mode == "scale" && len(levels) != 1 {
		err = errors.New("scale takes one --concurrency")
	}
	if err != nil {
		fmt.Fprintf(stderr, "nimbus-load compute: --concurrency: %v\n", err)
		return 2
	}
	if f.servers < 1 || f.warmup < 0 || f.poll <= 0 || f.consolePoll <= 0 || f.timeout <= 0 {
		fmt.Fprintln(stderr, "nimbus-load compute: --servers must be positive, --warmup not negative, --poll, --console-poll and --timeout positive")
		return 2
	}
	if f.password == "" {
		fmt.Fprintln(stderr, "nimbus-load compute: --password (or OS_PASSWORD) is required")
		return 2
	}
	if err := runCompute(ctx, mode, f, levels, stdout); err != nil {
		fmt.Fprintf(stderr, "nimbus-load compute %s: %v\n", mode, err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	return 0
}

// computeRun is one run's client and what its servers are made of.
type computeRun struct {
	f      computeFlags
	n      *nova
	args   serverArgs
	out    io.Writer
	serial atomic.Int64 // server names
}

func runCompute(ctx context.Context, mode string, f computeFlags, levels []int, stdout io.Writer) error {
	workers := slices.Max(levels)
	c := newClient(workers+64, time.Minute)
	defer c.CloseIdleConnections()
	l, err := loginCatalog(ctx, c, f.keystoneCreds)
	if err != nil {
		return err
	}
	computeURL, imageURL := cmp.Or(f.computeURL, l.endpoints["compute"]), cmp.Or(f.imageURL, l.endpoints["image"])
	if computeURL == "" {
		return errors.New("no public compute endpoint in the catalog; give --compute-url")
	}
	r := &computeRun{f: f, out: stdout, n: &nova{c: c, url: strings.TrimSuffix(computeURL, "/"), token: l.token, mv: f.microversion}}
	r.args.networks, r.args.configDrive = f.networks, f.configDrive
	var flavorDesc, imageDesc string
	if r.args.flavor, flavorDesc, err = r.n.pickFlavor(ctx, f.flavor); err != nil {
		return err
	}
	if imageURL == "" {
		if f.image == "" {
			return errors.New("no public image endpoint in the catalog; give --image-url or --image")
		}
		r.args.image, imageDesc = f.image, f.image
	} else if r.args.image, imageDesc, err = pickImage(ctx, c, l.token, imageURL, f.image); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compute load (%s): %s at %s, flavor %s, image %s, networks %q\n",
		mode, r.n.url, f.microversion, flavorDesc, imageDesc, f.networks)
	if f.unlimitedQuota {
		if err := r.n.unlimitedQuota(ctx, l.projectID); err != nil {
			fmt.Fprintf(stdout, "note: quotas not lifted (%v)\n", err)
		}
	}
	switch mode {
	case "post":
		return r.post(ctx, levels)
	case "active":
		return r.active(ctx, levels)
	default:
		return r.scale(ctx, levels[0])
	}
}

func (r *computeRun) nextName() string {
	return fmt.Sprintf("%s-%d", r.f.name, r.serial.Add(1))
}

// cleanup deletes the servers (unless --keep) and waits until they are
// gone, even after ctx ends, so that a run leaves the cloud as it was.
func (r *computeRun) cleanup(ctx context.Context, ids []string, workers int) error {
	if r.f.keep || len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.f.timeout)
	defer cancel()
	t0 := time.Now()
	if err := forEach(ctx, ids, workers, func(ctx context.Context, id string) error { return r.n.deleteServer(ctx, id) }); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	sent := time.Since(t0)
	if err := r.n.waitGone(ctx, ids, workers, 50*time.Millisecond, r.f.timeout); err != nil {
		return err
	}
	all := time.Since(t0)
	fmt.Fprintf(r.out, "deleted %d servers: DELETE answered in %.2f s, all gone in %.2f s (%.0f/s)\n",
		len(ids), sent.Seconds(), all.Seconds(), float64(len(ids))/all.Seconds())
	return nil
}

// post measures POST /servers at each concurrency level.
func (r *computeRun) post(ctx context.Context, levels []int) error {
	tbl := newResultTable()
	var results []result
	for _, conc := range levels {
		var (
			mu  sync.Mutex
			ids []string
		)
		var left atomic.Int64
		left.Store(int64(r.f.servers))
		sc := scenario{name: "POST /servers", do: func(ctx context.Context, _ *http.Client) error {
			if left.Add(-1) < 0 {
				return errStop
			}
			id, err := r.n.createServer(ctx, r.nextName(), r.args)
			if err != nil {
				return err
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			return nil
		}}
		res := measure(ctx, sc, conc, 0, 24*time.Hour, r.f.timeout)
		results = append(results, res)
		tbl.add(res)
		fmt.Fprintf(r.out, "concurrency %d: %d created (%.1f/s), p50 %s, p99 %s, %d errors\n",
			conc, res.ok, res.reqPerSec(), ms(res.p50), ms(res.p99), res.errors)
		if res.firstErr != nil {
			fmt.Fprintf(r.out, "  first error: %v\n", res.firstErr)
		}
		active, failed, err := r.settle(ctx, ids)
		if err != nil {
			_ = r.cleanup(ctx, ids, conc)
			return err
		}
		fmt.Fprintf(r.out, "  then: %d ACTIVE, %d ERROR\n", active, failed)
		if err := r.cleanup(ctx, ids, conc); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	tbl.write(r.out)
	bad := 0
	for _, res := range results {
		fmt.Fprintf(r.out, "RESULT post concurrency=%d servers=%d req_per_s=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
			res.concurrency, res.ok, res.reqPerSec(), msf(res.p50), msf(res.p99), res.errors)
		bad += res.errors
	}
	if bad > 0 {
		return fmt.Errorf("%d POSTs failed", bad)
	}
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// settle waits until none of ids is in BUILD, and counts ACTIVE and ERROR.
func (r *computeRun) settle(ctx context.Context, ids []string) (active, failed int, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.f.timeout)
	defer cancel()
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	for {
		all, err := r.n.listServers(ctx, url.Values{}, true)
		if err != nil {
			return 0, 0, err
		}
		active, failed = 0, 0
		building := 0
		for _, s := range all {
			if !want[s.ID] {
				continue
			}
			switch s.Status {
			case "BUILD":
				building++
			case "ACTIVE":
				active++
			case "ERROR":
				failed++
			}
		}
		if building == 0 {
			return active, failed, nil
		}
		if ctx.Err() != nil {
			return active, failed, fmt.Errorf("%d servers still in BUILD after %s", building, r.f.timeout)
		}
		sleep(ctx, r.f.poll)
	}
}
