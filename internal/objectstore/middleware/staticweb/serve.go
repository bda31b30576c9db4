package staticweb

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// container serves a request for the container itself: its index page
// or its listing.
func (s *site) container(w http.ResponseWriter) {
	s.load()
	if st := s.authorize(); st == http.StatusUnauthorized || st == http.StatusForbidden {
		if !s.errorPage(w, st) {
			// The core gives the caller its own refusal.
			s.h.next.ServeHTTP(w, s.r)
		}
		return
	}
	if s.listings == "" && s.index == "" {
		if s.webMode {
			s.notFoundPlain(w)
			return
		}
		s.h.next.ServeHTTP(w, s.r)
		return
	}
	if !strings.HasSuffix(s.r.URL.Path, "/") {
		s.redirectSlash(w)
		return
	}
	if s.index == "" {
		s.listing(w, "")
		return
	}
	resp := s.same(s.r.URL.Path + s.index)
	switch st := resp.StatusCode; {
	case st == http.StatusNotFound:
		resp.Body.Close()
		s.listing(w, "")
	case st/100 != 2 && st/100 != 3:
		s.errorResponse(w, resp)
	default:
		s.relay(w, resp)
	}
}

// authorize asks the core whether the caller may read the container as
// a site (Swift checks its read ACL as for a listing): the status of a
// HEAD made as the caller.
func (s *site) authorize() int {
	req := s.r.Clone(s.r.Context())
	req.Method = http.MethodHead
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = s.containerPath(), "", ""
	req.RequestURI = req.URL.RequestURI()
	req.Body, req.ContentLength = http.NoBody, 0
	for _, name := range []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		req.Header.Del(name)
	}
	resp := s.do(req)
	resp.Body.Close()
	return resp.StatusCode
}

func (s *site) notFoundPlain(w http.ResponseWriter) {
	errorSuffix := s.errorSuffix
	s.errorSuffix = ""
	s.notFound(w)
	s.errorSuffix = errorSuffix
}

// object serves a request for a path in the container: the object, or
// the index page or listing of the directory it names.
func (s *site) object(w http.ResponseWriter) {
	resp := s.same(s.r.URL.Path)
	status := resp.StatusCode
	s.load()
	if status/100 == 2 || status/100 == 3 {
		dirType := s.dirType
		if dirType == "" {
			dirType = "application/directory"
		}
		n, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
		if resp.Header.Get("Content-Type") != dirType || n > 1 {
			s.relay(w, resp)
			return
		}
		status = http.StatusNotFound // a directory marker is no page
	}
	if status != http.StatusNotFound {
		// Swift shows custom error pages for 404s only here.
		s.relay(w, resp)
		return
	}
	if s.listings == "" && s.index == "" {
		s.relay(w, resp)
		return
	}
	resp.Body.Close()
	path := s.r.URL.Path
	if s.index != "" {
		ipath := path
		if !strings.HasSuffix(ipath, "/") {
			ipath += "/"
		}
		iresp := s.same(ipath + s.index)
		st := iresp.StatusCode
		if st/100 == 2 || st/100 == 3 {
			if !strings.HasSuffix(path, "/") {
				iresp.Body.Close()
				s.redirectSlash(w)
				return
			}
			s.relay(w, iresp)
			return
		}
		if st != http.StatusNotFound {
			s.relay(w, iresp)
			return
		}
		iresp.Body.Close()
	}
	if !strings.HasSuffix(path, "/") {
		// A directory without an index: redirect if anything is in it.
		q := "format=json&limit=1&delimiter=/&prefix=" + url.QueryEscape(s.p.Object+"/")
		lresp := s.get(s.containerPath(), q)
		items, err := readListing(lresp)
		if err != nil || len(items) == 0 {
			s.notFound(w)
			return
		}
		s.redirectSlash(w)
		return
	}
	s.listing(w, s.p.Object)
}
