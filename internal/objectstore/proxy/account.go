package proxy

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Account sysmeta the core reads.
const (
	hdrAccountACL       = "X-Account-Access-Control"
	sysmetaAccountACL   = "X-Account-Sysmeta-Core-Access-Control"
	sysmetaDomainID     = "X-Account-Sysmeta-Project-Domain-Id"
	hdrProjectDomainID  = "X-Account-Project-Domain-Id"
	storagePolicyHeader = "X-Account-Storage-Policy-Policy-0-"
)

func (s *Server) serveAccount(req *request) {
	r := req.r
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions:
	default:
		// allow_account_management is off: accounts are made by their
		// first container and never deleted through the API.
		req.w.Header().Set("Allow", allowAccount)
		writeStatus(req.w, r, http.StatusMethodNotAllowed)
		return
	}
	if r.Method == http.MethodOptions {
		s.options(req, allowAccount)
		return
	}
	var mediaType string
	if r.Method != http.MethodPost {
		var ok bool
		if mediaType, ok = s.negotiate(req); !ok {
			return
		}
	}
	if !s.authorizeAccountLevel(req) {
		return
	}
	if len(req.t.Account) > swift.MaxAccountNameLength {
		writeError(req.w, r, http.StatusBadRequest, "Account name length of "+strconv.Itoa(len(req.t.Account))+
			" longer than "+strconv.Itoa(swift.MaxAccountNameLength))
		return
	}
	if r.Method == http.MethodPost {
		s.postAccount(req)
		return
	}
	s.getAccount(req, mediaType)
}

// authorizeAccountLevel decides requests on an account (or a container
// write): no container ACL applies, only roles and the account ACL.
func (s *Server) authorizeAccountLevel(req *request) bool {
	if req.authorized {
		return true
	}
	v := req.policy.authorize(authn.From(req.ctx), s.check(req, ""))
	return s.apply(req, v)
}

// check builds the authorization question for req under acl.
func (s *Server) check(req *request, acl string) authCheck {
	return authCheck{
		method:  req.r.Method,
		t:       req.t,
		referer: req.r.Referer(),
		acl:     acl,
		account: func() accountFacts {
			in := s.accountInfo(req)
			if !in.ok() {
				return accountFacts{}
			}
			return accountFacts{exists: true, domainID: in.header.Get(sysmetaDomainID),
				acl: parseAccountACL(in.header.Get(sysmetaAccountACL))}
		},
	}
}

// apply records an allowing verdict on req, or answers the denial.
func (s *Server) apply(req *request, v verdict) bool {
	if v.status != 0 {
		writeStatus(req.w, req.r, v.status)
		return false
	}
	if v.owner {
		req.owner = true
	}
	return true
}

// negotiate picks the listing format of a GET or HEAD, answering 406 or
// 400 itself; it also checks the listing parameters as Swift does.
func (s *Server) negotiate(req *request) (string, bool) {
	q := req.r.URL.Query()
	mt, err := listingType(q.Get("format"), req.r.Header.Get("Accept"))
	if err != nil {
		writeError(req.w, req.r, http.StatusBadRequest, err.Error())
		return "", false
	}
	if mt == "" {
		writeStatus(req.w, req.r, http.StatusNotAcceptable)
		return "", false
	}
	for _, name := range []string{"marker", "end_marker", "prefix", "delimiter", "path", "format", "reverse"} {
		if !validUTF8Param(q, name) {
			writeText(req.w, req.r, http.StatusBadRequest, `"`+name+`" parameter not valid UTF-8`)
			return "", false
		}
	}
	if l := q.Get("limit"); l != "" && isDigits(l) {
		n, err := strconv.Atoi(l)
		if err != nil || n > swift.ContainerListingLimit {
			writeError(req.w, req.r, http.StatusPreconditionFailed,
				"Maximum limit is "+strconv.Itoa(swift.ContainerListingLimit))
			return "", false
		}
	}
	return mt, true
}

func validUTF8Param(q url.Values, name string) bool {
	for _, v := range q[name] {
		if !validUTF8(v) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// listingQuery is the query for a storage node's listing: the client's
// parameters, JSON always.
func listingQuery(q url.Values) string {
	out := url.Values{}
	for _, k := range []string{"prefix", "delimiter", "marker", "end_marker", "limit", "reverse", "path", "states", "includes"} {
		if v, ok := q[k]; ok && len(v) > 0 {
			out.Set(k, v[0])
		}
	}
	out.Set("format", "json")
	return out.Encode()
}

func (s *Server) getAccount(req *request, mediaType string) {
	r := req.r
	q := r.URL.Query()
	if middlewareLookup(req) {
		if in := s.accountInfo(req); in.status != http.StatusNotFound {
			s.answerInfo(req, in, mediaType)
			return
		}
		s.fakeAccount(req, mediaType, false)
		return
	}
	part := req.ring.Partition(req.t.Account, "", "")
	_, gen := s.cache.get(cacheKey(req.t.Account, ""))
	rep := s.readDB(req.ctx, req.ring, kindAccount, part, r.Method, target{Account: req.t.Account},
		listingQuery(q), s.backendHeader(req), r.Header.Get("X-Newest") != "")
	if rep.status == http.StatusNotFound {
		if eqFold(rep.header.Get("X-Account-Status"), "deleted") {
			writeStatus(req.w, r, http.StatusGone)
			return
		}
		// account_autocreate: a missing account is an empty one until
		// its first container makes it.
		s.cache.put(cacheKey(req.t.Account, ""), &info{status: http.StatusNotFound, header: rep.header}, gen)
		s.fakeAccount(req, mediaType, q.Get("format") == "")
		return
	}
	if rep.status >= 200 && rep.status < 300 {
		s.cache.put(cacheKey(req.t.Account, ""), &info{status: rep.status, header: rep.header}, gen)
	}
	h := req.w.Header()
	copyResponseHeader(h, rep.header)
	if rep.status < 200 || rep.status >= 300 {
		delete(h, "Content-Length")
		delete(h, "Content-Type")
		writeStatus(req.w, r, rep.status)
		return
	}
	s.accountHeaders(req, h)
	s.writeListing(req, rep, mediaType, true, req.t.Account, q.Get("format") == "")
}

// accountHeaders adapts an account's headers for the client: the account
// ACL shown to its owner only, the project's domain, and the per-policy
// stats Tempest expects next to the totals.
func (s *Server) accountHeaders(req *request, h http.Header) {
	if acl := h.Get(sysmetaAccountACL); acl != "" && req.owner {
		if f := formatAccountACL(acl); f != "" {
			h.Set(hdrAccountACL, f)
		}
	}
	if !req.owner {
		stripOwnerHeaders(h)
	}
	if d := h.Get(sysmetaDomainID); d != "" {
		h.Set(hdrProjectDomainID, d)
	}
	if h.Get(storagePolicyHeader+"Container-Count") == "" {
		if n := h.Get("X-Account-Container-Count"); n != "" && n != "0" {
			h.Set(storagePolicyHeader+"Container-Count", n)
			h.Set(storagePolicyHeader+"Object-Count", orZero(h.Get("X-Account-Object-Count")))
			h.Set(storagePolicyHeader+"Bytes-Used", orZero(h.Get("X-Account-Bytes-Used")))
		}
	}
	h.Set("Accept-Ranges", "bytes")
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// fakeAccount answers for an account that does not exist yet, as Swift's
// account_autocreate: empty, with zero counts.
func (s *Server) fakeAccount(req *request, mediaType string, vary bool) {
	h := req.w.Header()
	now := swift.Now().Normal()
	h.Set("X-Account-Container-Count", "0")
	h.Set("X-Account-Object-Count", "0")
	h.Set("X-Account-Bytes-Used", "0")
	h.Set("X-Timestamp", now)
	h.Set("X-Put-Timestamp", now)
	h.Set("Accept-Ranges", "bytes")
	var body []byte
	switch mediaType {
	case typeJSON:
		body = []byte("[]")
	case typeXML, typeTXML:
		body = accountXML(nil, req.t.Account)
	}
	s.writeListingBody(req, body, mediaType, vary)
}

// writeListing renders a listing (or a HEAD's headers) for the client.
func (s *Server) writeListing(req *request, rep reply, mediaType string, account bool, name string, vary bool) {
	if req.r.Method == http.MethodHead {
		s.writeListingBody(req, nil, mediaType, vary)
		return
	}
	body, err := renderListing(rep.body, mediaType, account, name)
	if err != nil {
		s.log.Error("render listing", "err", err, "trans_id", req.id)
		writeStatus(req.w, req.r, http.StatusInternalServerError)
		return
	}
	s.writeListingBody(req, body, mediaType, vary)
}

func (s *Server) writeListingBody(req *request, body []byte, mediaType string, vary bool) {
	h := req.w.Header()
	h.Set("Content-Type", mediaType+"; charset=utf-8")
	if vary {
		if v := h.Get("Vary"); v != "" {
			h.Set("Vary", v+", Accept")
		} else {
			h.Set("Vary", "Accept")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := http.StatusOK
	if len(body) == 0 {
		status = http.StatusNoContent
	}
	req.w.WriteHeader(status)
	if req.r.Method == http.MethodGet && len(body) > 0 {
		_, _ = req.w.Write(body)
	}
}

func (s *Server) postAccount(req *request) {
	r := req.r
	if msg := checkMetadata("Account", r.Header); msg != "" {
		writeText(req.w, r, http.StatusBadRequest, msg)
		return
	}
	hdr := s.backendHeader(req)
	if _, ok := r.Header[hdrAccountACL]; ok && req.owner {
		acl := r.Header.Get(hdrAccountACL)
		if msg := checkAccountACL(acl); msg != "" {
			writeBody(req.w, r, http.StatusBadRequest, "text/plain; charset=UTF-8",
				"X-Account-Access-Control invalid: "+msg+"\n\nInput: "+acl+"\n")
			return
		}
		hdr.Set(sysmetaAccountACL, acl)
	}
	if !req.owner {
		stripOwnerHeaders(r.Header)
	}
	transferMeta("Account", r.Header, hdr)
	ts, ok := s.timestamp(req)
	if !ok {
		return
	}
	hdr.Set("X-Timestamp", ts.Internal())
	part := req.ring.Partition(req.t.Account, "", "")
	s.cache.drop(cacheKey(req.t.Account, ""))
	replies := s.fanout(req.ctx, req.ring, kindAccount, part, http.MethodPost, target{Account: req.t.Account}, "",
		[]http.Header{hdr}, nil, nil)
	rep, ok := best(replies, len(replies), nil)
	if ok && rep.status == http.StatusNotFound {
		if !s.autocreate(req) {
			writeStatus(req.w, r, http.StatusServiceUnavailable)
			return
		}
		ts = swift.Now()
		hdr.Set("X-Timestamp", ts.Internal())
		replies = s.fanout(req.ctx, req.ring, kindAccount, part, http.MethodPost, target{Account: req.t.Account}, "",
			[]http.Header{hdr}, nil, nil)
		rep, ok = best(replies, len(replies), nil)
	}
	s.cache.drop(cacheKey(req.t.Account, ""))
	if !ok {
		s.log.Error("account POST without quorum", "account", req.t.Account, "statuses", statuses(replies), "trans_id", req.id)
		writeStatus(req.w, r, http.StatusServiceUnavailable)
		return
	}
	writeStatus(req.w, r, rep.status)
}

// autocreate makes the account on its account servers (Swift's
// autocreate_account), recording the project's domain when the creator is
// scoped to it, so that names in ACLs can be trusted later.
func (s *Server) autocreate(req *request) bool {
	hdr := s.backendHeader(req)
	hdr.Set("X-Timestamp", swift.Now().Internal())
	for k, v := range req.r.Header {
		if len(k) > len("X-Account-Sysmeta-") && k[:len("X-Account-Sysmeta-")] == "X-Account-Sysmeta-" {
			hdr[k] = v
		}
	}
	if hdr.Get(sysmetaDomainID) == "" {
		domain := unknownDomain
		if p := authn.From(req.ctx); p != nil && p.ProjectID != "" && req.t.Account == req.policy.prefix+p.ProjectID {
			domain = p.ProjectDomainID
		}
		if domain != "" {
			hdr.Set(sysmetaDomainID, domain)
		}
	}
	part := req.ring.Partition(req.t.Account, "", "")
	replies := s.fanout(req.ctx, req.ring, kindAccount, part, http.MethodPut, target{Account: req.t.Account}, "",
		[]http.Header{hdr}, nil, nil)
	s.cache.drop(cacheKey(req.t.Account, ""))
	rep, ok := best(replies, len(replies), nil)
	if !ok || rep.status < 200 || rep.status >= 300 {
		s.log.Warn("could not autocreate account", "account", req.t.Account, "statuses", statuses(replies), "trans_id", req.id)
		return false
	}
	s.log.Info("autocreated account", "account", req.t.Account, "trans_id", req.id)
	return true
}

func statuses(replies []reply) []int {
	out := make([]int, len(replies))
	for i, r := range replies {
		out[i] = r.status
	}
	return out
}

// accountInfo is the account's HEAD, cached.
func (s *Server) accountInfo(req *request) *info {
	key := cacheKey(req.t.Account, "")
	in, gen := s.cache.get(key)
	if in != nil {
		return in
	}
	part := req.ring.Partition(req.t.Account, "", "")
	rep := s.readDB(req.ctx, req.ring, kindAccount, part, http.MethodHead, target{Account: req.t.Account}, "",
		s.backendHeader(req), false)
	in = &info{status: rep.status, header: rep.header}
	s.cache.put(key, in, gen)
	return in
}
