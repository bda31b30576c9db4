package proxy

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func (s *Server) serveObject(req *request) {
	r := req.r
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
	case http.MethodOptions:
		s.options(req, allowBelow)
		return
	default:
		req.w.Header().Set("Allow", allowBelow)
		writeStatus(req.w, r, http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("Origin") != "" {
		req.w = s.corsWriter(req)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if s.authorizeDelayed(req, false) {
			s.getObject(req)
		}
	case http.MethodPut:
		s.putObject(req)
	case http.MethodPost:
		s.postObject(req)
	case http.MethodDelete:
		s.deleteObject(req)
	}
}

// objectWritable authorizes a write under the container's write ACL and
// checks that the container exists (404 otherwise).
func (s *Server) objectWritable(req *request) bool {
	if !s.authorizeDelayed(req, true) {
		return false
	}
	if !s.containerInfo(req).ok() {
		writeStatus(req.w, req.r, http.StatusNotFound)
		return false
	}
	return true
}

// objectHeaders builds one header set per object primary: the request's
// headers, the write's timestamp, and the container servers each object
// server updates: every container replica at least once, and as many
// updates as make the listing durable whenever the object is (Swift's
// _backend_requests).
func (s *Server) objectHeaders(req *request, rg *ring.Ring, n int, ts swift.Timestamp, base http.Header) []http.Header {
	base.Set("X-Timestamp", ts.Internal())
	cpart := rg.Partition(req.t.Account, req.t.Container, "")
	containers := rg.Primaries(cpart)
	if n == 0 {
		n = 1
	}
	hdrs := make([]http.Header, n)
	hdrs[0] = base
	for i := 1; i < n; i++ {
		hdrs[i] = base.Clone()
	}
	if len(containers) == 0 {
		return hdrs
	}
	opart := rg.Partition(req.t.Account, req.t.Container, req.t.Object)
	hosts, devs := containerUpdates(rg.Primaries(opart), containers, n)
	p := strconv.Itoa(cpart)
	for i, h := range hdrs {
		if len(hosts[i]) == 0 {
			continue
		}
		h["X-Container-Partition"] = []string{p}
		h["X-Container-Host"] = []string{strings.Join(hosts[i], ",")}
		h["X-Container-Device"] = []string{strings.Join(devs[i], ",")}
	}
	return hdrs
}

// deleteAtHeaders turns X-Delete-After into X-Delete-At and checks both as
// Swift's check_delete_headers; the message is Swift's 400 body.
func deleteAtHeaders(h http.Header, now swift.Timestamp) string {
	secs := float64(now.Ticks) / 100000
	if v, ok := h["X-Delete-After"]; ok {
		after, err := strconv.ParseInt(strings.TrimSpace(first(v)), 10, 64)
		if err != nil {
			return "Non-integer X-Delete-After"
		}
		at := normalizeDeleteAt(secs + float64(after))
		if float64(at) <= secs {
			return "X-Delete-After in past"
		}
		h["X-Delete-At"] = []string{formatDeleteAt(at)}
		delete(h, "X-Delete-After")
	}
	if v, ok := h["X-Delete-At"]; ok {
		at, err := strconv.ParseInt(strings.TrimSpace(first(v)), 10, 64)
		if err != nil {
			return "Non-integer X-Delete-At"
		}
		at = normalizeDeleteAt(float64(at))
		if float64(at) <= secs {
			return "X-Delete-At in past"
		}
		h["X-Delete-At"] = []string{formatDeleteAt(at)}
	}
	return ""
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func normalizeDeleteAt(t float64) int64 {
	return int64(math.Min(math.Max(0, t), 9999999999))
}

func formatDeleteAt(t int64) string {
	s := strconv.FormatInt(t, 10)
	for len(s) < 10 {
		s = "0" + s
	}
	return s
}

func (s *Server) postObject(req *request) {
	r := req.r
	if !s.objectWritable(req) {
		return
	}
	if msg := checkMetadata("Object", r.Header); msg != "" {
		writeText(req.w, r, http.StatusBadRequest, msg)
		return
	}
	ts, ok := s.timestamp(req)
	if !ok {
		return
	}
	base := s.objectHeader(req)
	if msg := deleteAtHeaders(base, ts); msg != "" {
		writeText(req.w, r, http.StatusBadRequest, msg)
		return
	}
	part := req.ring.Partition(req.t.Account, req.t.Container, req.t.Object)
	hdrs := s.objectHeaders(req, req.ring, len(req.ring.Primaries(part)), ts, base)
	replies := s.fanout(req.ctx, req.ring, kindObject, part, http.MethodPost, req.t, "", hdrs, nil, nil)
	rep, ok := best(replies, len(replies), nil)
	found := 0
	for _, rp := range replies {
		if rp.status == http.StatusAccepted {
			found++
		}
	}
	if !ok || (rep.status == http.StatusNotFound && found > 0) {
		// A 404 cannot be right when a node has the object.
		s.log.Error("object POST without quorum", "path", r.URL.Path, "statuses", statuses(replies), "trans_id", req.id)
		writeStatus(req.w, r, http.StatusServiceUnavailable)
		return
	}
	writeStatus(req.w, r, rep.status)
}

func (s *Server) deleteObject(req *request) {
	r := req.r
	if !s.objectWritable(req) {
		return
	}
	ts, ok := s.timestamp(req)
	if !ok {
		return
	}
	part := req.ring.Partition(req.t.Account, req.t.Container, req.t.Object)
	hdrs := s.objectHeaders(req, req.ring, len(req.ring.Primaries(part)), ts, s.objectHeader(req))
	replies := s.fanout(req.ctx, req.ring, kindObject, part, http.MethodDelete, req.t, "", hdrs, nil, nil)
	rep, ok := best(replies, len(replies), map[int]int{http.StatusNotFound: http.StatusNoContent})
	if !ok {
		s.log.Error("object DELETE without quorum", "path", r.URL.Path, "statuses", statuses(replies), "trans_id", req.id)
		writeStatus(req.w, r, http.StatusServiceUnavailable)
		return
	}
	writeStatus(req.w, r, rep.status)
}

// containerUpdates assigns container replicas to object servers. An
// object server on the same node as a container replica updates that one:
// when a node is down, the update it would have made is then for a
// replica that is down too, and every live replica still hears of the
// object (with a plain round-robin, a live replica could miss it until
// replication). The rest go round-robin to the least loaded servers.
func containerUpdates(objects, containers []ring.Device, n int) (hosts, devs [][]string) {
	hosts, devs = make([][]string, n), make([][]string, n)
	needed := max(quorum(len(containers))+n-quorum(n), len(containers))
	done := make([]bool, len(containers))
	assign := func(slot, c int) {
		hosts[slot] = append(hosts[slot], containers[c].Addr())
		devs[slot] = append(devs[slot], containers[c].Name)
		done[c] = true
		needed--
	}
	for slot := 0; slot < n && slot < len(objects); slot++ {
		for c, cd := range containers {
			if !done[c] && cd.IP == objects[slot].IP && cd.Port == objects[slot].Port {
				assign(slot, c)
				break
			}
		}
	}
	leastLoaded := func(c int) int {
		best := -1
		for slot := range n {
			if slices.Contains(devs[slot], containers[c].Name) && slices.Contains(hosts[slot], containers[c].Addr()) {
				continue
			}
			if best < 0 || len(hosts[slot]) < len(hosts[best]) {
				best = slot
			}
		}
		if best < 0 {
			best = 0
		}
		return best
	}
	for c := range containers {
		if !done[c] {
			assign(leastLoaded(c), c)
		}
	}
	for c := 0; needed > 0; c = (c + 1) % len(containers) {
		assign(leastLoaded(c), c)
	}
	return hosts, devs
}
