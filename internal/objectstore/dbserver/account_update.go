package dbserver

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// accountTarget is one account server replica to tell about a container.
type accountTarget struct {
	host, device, part string
}

// accountTargets reads X-Account-Host, -Device (comma lists of equal
// length) and -Partition; ok is false when they do not match.
func accountTargets(r *http.Request) (targets []accountTarget, ok bool) {
	part := strings.TrimSpace(r.Header.Get("X-Account-Partition"))
	hosts, devices := r.Header.Get("X-Account-Host"), r.Header.Get("X-Account-Device")
	if part == "" || hosts == "" {
		return nil, true
	}
	hl, dl := strings.Split(hosts, ","), strings.Split(devices, ",")
	if len(hl) != len(dl) {
		return nil, false
	}
	for i := range hl {
		targets = append(targets, accountTarget{host: strings.TrimSpace(hl[i]), device: strings.TrimSpace(dl[i]), part: part})
	}
	return targets, true
}

// updateAccount tells the account servers the proxy named about the
// container after a PUT or DELETE. When all of them took it, the stats
// count as reported; otherwise the updater sends them later. It reports
// whether every account server answered 404 (the account is gone).
func (s *Server) updateAccount(r *http.Request, d *db, bp swift.BackendPath, targets []accountTarget) bool {
	s.dirty.add(d.path)
	if len(targets) == 0 {
		return false
	}
	i, err := readInfo(r.Context(), d.sql)
	if err != nil {
		s.log.Warn("account update: read container", "path", d.path, "err", err)
		return false
	}
	rep := i.report()
	override := strings.EqualFold(r.Header.Get("X-Account-Override-Deleted"), "yes")
	statuses := s.sendRows(r.Context(), targets, bp.Account, bp.Container, rep, override)
	ok, missing := 0, 0
	for _, st := range statuses {
		switch {
		case st >= 200 && st < 300:
			ok++
		case st == http.StatusNotFound:
			missing++
		}
	}
	if ok == len(targets) {
		if err := d.write(func(tx *sql.Tx) error { return saveReported(r.Context(), tx, rep) }); err != nil {
			s.log.Warn("account update: record", "path", d.path, "err", err)
		}
	}
	return missing == len(targets)
}

// sendRows sends the container's row to every target at once and returns
// their statuses (0 when unreachable).
func (s *Server) sendRows(ctx context.Context, targets []accountTarget, account, container string, rep reported, override bool) []int {
	statuses := make([]int, len(targets))
	var wg sync.WaitGroup
	for n, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := s.sendRow(ctx, t, account, container, rep, override)
			if err != nil {
				s.log.Warn("account update failed (will retry later)", "host", t.host, "device", t.device,
					"account", account, "container", container, "err", err)
			}
			statuses[n] = st
		}()
	}
	wg.Wait()
	return statuses
}

// sendRow is PUT /account/{dev}/{part}/{a}/{c} with the container's stats.
func (s *Server) sendRow(ctx context.Context, t accountTarget, account, container string, rep reported, override bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	defer cancel()
	u := fmt.Sprintf("http://%s/account/%s/%s/%s/%s", t.host, url.PathEscape(t.device), url.PathEscape(t.part),
		url.PathEscape(account), url.PathEscape(container))
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
	if err != nil {
		return 0, fmt.Errorf("account update: %w", err)
	}
	now := swift.Now()
	req.Header.Set("X-Timestamp", now.Internal())
	req.Header.Set("X-Put-Timestamp", rep.PutTimestamp.Internal())
	req.Header.Set("X-Delete-Timestamp", rep.DeleteTimestamp.Internal())
	req.Header.Set("X-Object-Count", strconv.FormatInt(rep.ObjectCount, 10))
	req.Header.Set("X-Bytes-Used", strconv.FormatInt(rep.BytesUsed, 10))
	req.Header.Set("X-Backend-Stats-Timestamp", now.Internal())
	if override {
		req.Header.Set("X-Account-Override-Deleted", "yes")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("account update: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		return resp.StatusCode, fmt.Errorf("account update: %s", resp.Status)
	}
	return resp.StatusCode, nil
}
