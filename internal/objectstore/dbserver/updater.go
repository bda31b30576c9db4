package dbserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// fullUpdateEvery is how often the updater looks at every container, not
// only those written to since its last pass (a safety net; the first pass
// after a start is always full, since "reported" lives in the databases).
const fullUpdateEvery = 10 * time.Minute

// updateWorkers bounds the containers reported at once.
const updateWorkers = 8

// dirtySet holds the paths of containers written to since the updater
// last looked at them.
type dirtySet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func newDirtySet() *dirtySet { return &dirtySet{m: map[string]struct{}{}} }

func (s *dirtySet) add(path string) {
	s.mu.Lock()
	s.m[path] = struct{}{}
	s.mu.Unlock()
}

func (s *dirtySet) take() map[string]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m
	s.m = map[string]struct{}{}
	return m
}

// updaterState is the updater's memory between passes.
type updaterState struct {
	mu       sync.Mutex // one pass at a time
	lastFull time.Time
}

// UpdateOnce reports to the account servers (the account's primaries in
// the ring) every container whose PUT or DELETE timestamp or stats
// changed since last reported. A container counts as reported once a
// majority took it; the others are tried again next pass.
func (s *Server) UpdateOnce(ctx context.Context) error {
	s.updater.mu.Lock()
	defer s.updater.mu.Unlock()
	rg := s.ring.Ring()
	if rg == nil {
		return errors.New("container updater: no ring loaded")
	}
	paths := s.dirty.take()
	var errs []error
	if time.Since(s.updater.lastFull) >= fullUpdateEvery {
		dbs, err := s.allDBs(kindContainer)
		if err != nil {
			errs = append(errs, err)
		}
		for _, l := range dbs {
			paths[l.path] = struct{}{}
		}
		s.updater.lastFull = time.Now()
	}
	work := make(chan string)
	var mu sync.Mutex
	failed := 0
	var wg sync.WaitGroup
	for range min(updateWorkers, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if err := s.reportContainer(ctx, p); err != nil {
					s.dirty.add(p) // again next pass
					mu.Lock()
					failed++
					if len(errs) < 10 {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for p := range paths {
		if ctx.Err() != nil {
			s.dirty.add(p)
			continue
		}
		work <- p
	}
	close(work)
	wg.Wait()
	if failed > 0 {
		errs = append(errs, fmt.Errorf("container updater: %d of %d containers not reported", failed, len(paths)))
	}
	return errors.Join(errs...)
}

// reportContainer sends one container's row to its account's primaries
// if it changed since last reported.
func (s *Server) reportContainer(ctx context.Context, path string) error {
	d, _, err := s.dbs.acquire(ctx, path, kindContainer, nil)
	if errors.Is(err, errNoDB) {
		return nil
	}
	if err != nil {
		return err
	}
	defer s.dbs.release(d)
	i, err := readInfo(ctx, d.sql)
	if err != nil {
		return err
	}
	rep := i.report()
	if rep == i.Reported || i.Account == "" {
		return nil
	}
	rg := s.ring.Ring()
	part := rg.Partition(i.Account, "", "")
	var targets []accountTarget
	for _, n := range rg.Primaries(part) {
		targets = append(targets, accountTarget{host: n.Addr(), device: n.Name, part: strconv.Itoa(part)})
	}
	if len(targets) == 0 {
		return fmt.Errorf("report container %s/%s: no account servers in the ring", i.Account, i.Container)
	}
	ok := 0
	for _, st := range s.sendRows(ctx, targets, i.Account, i.Container, rep, false) {
		// 404: the account was deleted; there is nothing to report to.
		if (st >= 200 && st < 300) || st == http.StatusNotFound {
			ok++
		}
	}
	if ok < len(targets)/2+1 {
		return fmt.Errorf("report container %s/%s: %d of %d account servers took it", i.Account, i.Container, ok, len(targets))
	}
	return d.write(func(tx *sql.Tx) error { return saveReported(ctx, tx, rep) })
}
