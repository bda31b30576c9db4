package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func (s *Server) serveContainer(req *request) {
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
		s.getContainer(req)
	case http.MethodPut:
		s.putContainer(req)
	case http.MethodPost:
		s.postContainer(req)
	case http.MethodDelete:
		s.deleteContainer(req)
	}
}

// authorizeDelayed is Swift's delay_denial: a caller the roles do not
// let in may still be let in by the container's ACL (read or write).
func (s *Server) authorizeDelayed(req *request, write bool) bool {
	if req.authorized {
		return true
	}
	p := authn.From(req.ctx)
	v := req.policy.authorize(p, s.check(req, ""))
	if v.status != 0 {
		in := s.containerInfo(req)
		acl := ""
		if in.ok() {
			if write {
				acl = in.header.Get("X-Container-Write")
			} else {
				acl = in.header.Get("X-Container-Read")
			}
		}
		if acl != "" {
			v = req.policy.authorize(p, s.check(req, acl))
		}
	}
	return s.apply(req, v)
}

// containerInfo is the container's HEAD, cached.
func (s *Server) containerInfo(req *request) *info {
	key := cacheKey(req.t.Account, req.t.Container)
	in, gen := s.cache.get(key)
	if in != nil {
		return in
	}
	t := target{Account: req.t.Account, Container: req.t.Container}
	part := req.ring.Partition(t.Account, t.Container, "")
	rep := s.readDB(req.ctx, req.ring, kindContainer, part, http.MethodHead, t, "", s.backendHeader(req), false)
	in = &info{status: rep.status, header: rep.header}
	s.cache.put(key, in, gen)
	return in
}

// middlewareLookup is a HEAD a middleware makes for its own decisions
// (swift.HeadInfo): the cache answers it when it can.
func middlewareLookup(req *request) bool {
	return req.authorized && req.owner && req.r.Method == http.MethodHead && req.r.Header.Get("X-Newest") == ""
}

func (s *Server) getContainer(req *request) {
	r := req.r
	mediaType, ok := s.negotiate(req)
	if !ok || !s.authorizeDelayed(req, false) {
		return
	}
	if middlewareLookup(req) {
		in := s.containerInfo(req)
		s.answerInfo(req, in, mediaType)
		return
	}
	if !s.accountInfo(req).ok() {
		writeStatus(req.w, r, http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	t := target{Account: req.t.Account, Container: req.t.Container}
	part := req.ring.Partition(t.Account, t.Container, "")
	key := cacheKey(t.Account, t.Container)
	_, gen := s.cache.get(key)
	rep := s.readDB(req.ctx, req.ring, kindContainer, part, r.Method, t, listingQuery(q), s.backendHeader(req),
		r.Header.Get("X-Newest") != "")
	if rep.status < 500 {
		s.cache.put(key, &info{status: rep.status, header: rep.header}, gen)
	}
	h := req.w.Header()
	if rep.status < 200 || rep.status >= 300 {
		writeStatus(req.w, r, rep.status)
		return
	}
	copyResponseHeader(h, rep.header)
	s.containerHeaders(req, h)
	s.writeListing(req, rep, mediaType, false, t.Container, q.Get("format") == "")
}

// answerInfo answers a middleware's HEAD from the cached info.
func (s *Server) answerInfo(req *request, in *info, mediaType string) {
	if !in.ok() {
		writeStatus(req.w, req.r, in.status)
		return
	}
	h := req.w.Header()
	copyResponseHeader(h, in.header)
	if req.t.Container != "" {
		s.containerHeaders(req, h)
	} else {
		s.accountHeaders(req, h)
	}
	s.writeListingBody(req, nil, mediaType, false)
}

// containerHeaders adapts a container's headers for the client.
func (s *Server) containerHeaders(req *request, h http.Header) {
	if !req.owner {
		stripOwnerHeaders(h)
	}
	if h.Get("X-Storage-Policy") == "" {
		h.Set("X-Storage-Policy", "Policy-0")
	}
	if h.Get("Last-Modified") == "" {
		for _, k := range []string{"X-Put-Timestamp", "X-Timestamp"} {
			if ts, err := swift.ParseTimestamp(h.Get(k)); err == nil {
				h.Set("Last-Modified", ts.HTTPDate())
				break
			}
		}
	}
	h.Set("Accept-Ranges", "bytes")
}

// cleanACLs validates and normalizes the ACL headers of a container write;
// false when it answered Swift's 400.
func cleanACLs(req *request) bool {
	for _, name := range []string{"X-Container-Read", "X-Container-Write"} {
		vs, ok := req.r.Header[name]
		if !ok || len(vs) == 0 {
			continue
		}
		clean, err := cleanACL(name, vs[0])
		if err != nil {
			writeError(req.w, req.r, http.StatusBadRequest, err.Error())
			return false
		}
		req.r.Header[name] = []string{clean}
	}
	return true
}

func (s *Server) putContainer(req *request) {
	r := req.r
	if !s.authorizeAccountLevel(req) || !cleanACLs(req) {
		return
	}
	if msg := checkMetadata("Container", r.Header); msg != "" {
		writeText(req.w, r, http.StatusBadRequest, msg)
		return
	}
	if p := r.Header.Get("X-Storage-Policy"); p != "" && !eqFold(p, "Policy-0") {
		writeText(req.w, r, http.StatusBadRequest, "Invalid X-Storage-Policy '"+p+"'")
		return
	}
	if !req.owner {
		stripOwnerHeaders(r.Header)
	}
	if len(req.t.Container) > swift.MaxContainerNameLength {
		writeError(req.w, r, http.StatusBadRequest, "Container name length of "+strconv.Itoa(len(req.t.Container))+
			" longer than "+strconv.Itoa(swift.MaxContainerNameLength))
		return
	}
	if !s.accountInfo(req).ok() && !s.autocreate(req) {
		writeStatus(req.w, r, http.StatusServiceUnavailable)
		return
	}
	ts, ok := s.timestamp(req)
	if !ok {
		return
	}
	hdr := s.backendHeader(req)
	hdr.Set("X-Timestamp", ts.Internal())
	hdr.Set("X-Backend-Storage-Policy-Default", "0")
	transferMeta("Container", r.Header, hdr)
	s.containerWrite(req, http.MethodPut, hdr)
}

// containerWrite sends a container PUT or DELETE to the container
// servers, each with the account servers it is to update (Swift's
// _backend_requests), and answers the client.
func (s *Server) containerWrite(req *request, method string, base http.Header) {
	t := target{Account: req.t.Account, Container: req.t.Container}
	part := req.ring.Partition(t.Account, t.Container, "")
	n := len(req.ring.Primaries(part))
	apart := req.ring.Partition(t.Account, "", "")
	accounts := req.ring.Primaries(apart)
	hdrs := make([]http.Header, max(n, 1))
	for i := range hdrs {
		hdrs[i] = base.Clone()
	}
	hosts := make([][]string, len(hdrs))
	devs := make([][]string, len(hdrs))
	for i, a := range accounts {
		j := i % len(hdrs)
		hosts[j] = append(hosts[j], a.Addr())
		devs[j] = append(devs[j], a.Name)
	}
	for j, h := range hdrs {
		if len(hosts[j]) > 0 {
			h.Set("X-Account-Partition", strconv.Itoa(apart))
			h.Set("X-Account-Host", strings.Join(hosts[j], ","))
			h.Set("X-Account-Device", strings.Join(devs[j], ","))
		}
	}
	keys := []string{cacheKey(t.Account, t.Container), cacheKey(t.Account, "")}
	s.cache.drop(keys...)
	replies := s.fanout(req.ctx, req.ring, kindContainer, part, method, t, "", hdrs, nil, nil)
	s.cache.drop(keys...)
	rep, ok := best(replies, len(replies), nil)
	if !ok {
		s.log.Error("container write without quorum", "method", method, "account", t.Account, "container", t.Container,
			"statuses", statuses(replies), "trans_id", req.id)
		writeStatus(req.w, req.r, http.StatusServiceUnavailable)
		return
	}
	status := rep.status
	if method == http.MethodDelete && status == http.StatusAccepted {
		// No container server had it.
		status = http.StatusNotFound
	}
	writeStatus(req.w, req.r, status)
}

func (s *Server) postContainer(req *request) {
	r := req.r
	if !s.authorizeAccountLevel(req) || !cleanACLs(req) {
		return
	}
	if msg := checkMetadata("Container", r.Header); msg != "" {
		writeText(req.w, r, http.StatusBadRequest, msg)
		return
	}
	if !req.owner {
		stripOwnerHeaders(r.Header)
	}
	if !s.accountInfo(req).ok() {
		writeStatus(req.w, r, http.StatusNotFound)
		return
	}
	ts, ok := s.timestamp(req)
	if !ok {
		return
	}
	hdr := s.backendHeader(req)
	hdr.Set("X-Timestamp", ts.Internal())
	transferMeta("Container", r.Header, hdr)
	t := target{Account: req.t.Account, Container: req.t.Container}
	part := req.ring.Partition(t.Account, t.Container, "")
	key := cacheKey(t.Account, t.Container)
	s.cache.drop(key)
	replies := s.fanout(req.ctx, req.ring, kindContainer, part, http.MethodPost, t, "", []http.Header{hdr}, nil, nil)
	s.cache.drop(key)
	rep, ok := best(replies, len(replies), nil)
	if !ok {
		s.log.Error("container POST without quorum", "account", t.Account, "container", t.Container,
			"statuses", statuses(replies), "trans_id", req.id)
		writeStatus(req.w, r, http.StatusServiceUnavailable)
		return
	}
	writeStatus(req.w, r, rep.status)
}

func (s *Server) deleteContainer(req *request) {
	r := req.r
	if !s.authorizeAccountLevel(req) {
		return
	}
	if !s.accountInfo(req).ok() {
		writeStatus(req.w, r, http.StatusNotFound)
		return
	}
	ts, ok := s.timestamp(req)
	if !ok {
		return
	}
	hdr := s.backendHeader(req)
	hdr.Set("X-Timestamp", ts.Internal())
	s.containerWrite(req, http.MethodDelete, hdr)
}
