package proxy

import (
	"context"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// maxListing bounds a listing body read from a container or account
// server: 10000 entries of 1 KiB names and their fields.
const maxListing = 32 << 20

// readDB is Swift's GETorHEAD_base for accounts and containers: the nodes
// of the partition one after another (primaries, then as many handoffs)
// until one answers 2xx or 3xx. With newest, all primaries are asked at
// once and the newest answer wins (X-Newest). Without a good answer, the
// best of the others by quorum, else 503.
func (s *Server) readDB(ctx context.Context, rg *ring.Ring, kind string, part int, method string, t target,
	query string, hdr http.Header, newest bool) reply {
	primaries := s.limits.order(rg.Primaries(part))
	if newest {
		if r, ok := s.readNewest(ctx, primaries, kind, part, method, t, query, hdr); ok {
			return r
		}
	}
	nodes := primaries
	var others []reply
	for i := 0; ; i++ {
		if i == len(primaries) && len(nodes) == len(primaries) {
			// Primaries exhausted: as many handoffs, computed only now.
			nodes = append(primaries[:len(primaries):len(primaries)], limitDevs(rg.Handoffs(part), len(primaries))...)
		}
		if i >= len(nodes) {
			break
		}
		dev := nodes[i]
		handoff := i >= len(primaries)
		r := s.readOnce(ctx, dev, kind, part, method, t, query, hdr)
		if r.err != nil {
			continue
		}
		if r.status >= 200 && r.status < 400 {
			return r
		}
		if handoff && (r.status >= 500 || (r.status == http.StatusNotFound && r.header.Get("X-Backend-Timestamp") == "")) {
			// A handoff without the data says nothing about it.
			continue
		}
		others = append(others, r)
	}
	if r, ok := best(others, len(others), nil); ok {
		return r
	}
	return reply{status: http.StatusServiceUnavailable}
}

func limitDevs(d []ring.Device, n int) []ring.Device {
	if len(d) > n {
		return d[:n]
	}
	return d
}

func (s *Server) readOnce(ctx context.Context, dev ring.Device, kind string, part int, method string, t target,
	query string, hdr http.Header) reply {
	resp, err := s.send(ctx, method, backendURL(dev, kind, part, t, query), hdr, nil, 0)
	if err != nil {
		if ctx.Err() == nil {
			s.nodeFailed(dev, "storage node request failed", "method", method, "kind", kind, "err", err,
				"trans_id", hdr.Get("X-Trans-Id"))
		}
		return reply{status: http.StatusServiceUnavailable, dev: dev, err: err}
	}
	var body []byte
	if method == http.MethodGet {
		body = drain(resp, maxListing)
	} else {
		drain(resp, 0)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body, dev: dev}
}

func (s *Server) readNewest(ctx context.Context, nodes []ring.Device, kind string, part int, method string,
	t target, query string, hdr http.Header) (reply, bool) {
	ch := make(chan reply, len(nodes))
	for _, dev := range nodes {
		go func() { ch <- s.readOnce(ctx, dev, kind, part, method, t, query, hdr) }()
	}
	var found reply
	var foundTS swift.Timestamp
	ok := false
	for range nodes {
		r := <-ch
		if r.err != nil || r.status < 200 || r.status >= 400 {
			continue
		}
		ts := replyTimestamp(r.header)
		if !ok || ts.After(foundTS) {
			found, foundTS, ok = r, ts, true
		}
	}
	return found, ok
}

// replyTimestamp is the time of the data a node answered with, as Swift
// orders sources.
func replyTimestamp(h http.Header) swift.Timestamp {
	for _, k := range []string{"X-Backend-Data-Timestamp", "X-Backend-Timestamp", "X-Put-Timestamp", "X-Timestamp"} {
		if v := h.Get(k); v != "" {
			if ts, err := swift.ParseTimestamp(v); err == nil {
				return ts
			}
		}
	}
	return swift.Timestamp{}
}
