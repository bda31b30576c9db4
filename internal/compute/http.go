package compute

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// ComputeRequestIDHeader is the request id header Nova sends besides
// x-openstack-request-id, with the same value.
const ComputeRequestIDHeader = "X-Compute-Request-Id"

type handlers struct {
	svc *Service
	neg Negotiator
}

// Handler returns the Compute API (port 8774), authenticating callers
// with v. Version discovery at / and /v2.1 needs no token.
func (s *Service) Handler(o httpx.Options, v authn.Validator) http.Handler {
	h := &handlers{svc: s, neg: DefaultNegotiator}
	o.Dialect = s.dialect
	o.Authenticate = func(r *http.Request) (context.Context, error) {
		p, err := authn.Authenticate(r.Context(), v, r)
		if err != nil {
			return nil, err
		}
		if ri := info(r); ri.urlProject != "" && ri.urlProject != p.ProjectID {
			return nil, fault.BadRequestf("Malformed request URL: URL's project_id '%s' doesn't match Context's project_id '%s'",
				ri.urlProject, p.ProjectID)
		}
		return authn.With(r.Context(), p), nil
	}
	if o.Service == "" {
		o.Service = "compute"
	}
	rt := httpx.NewRouter(o)
	for _, rte := range h.routes() {
		if rte.public {
			rt.Public(rte.pattern, rte.h)
		} else {
			rt.Handle(rte.pattern, rte.h)
		}
	}
	if o.Metrics != nil {
		rt.Raw("GET /metrics", o.Metrics.Handler())
	}
	return h.frontDoor(rt)
}

// dialect writes Nova's error bodies, except for 401s, which callers of
// Nova get from keystonemiddleware in Keystone's shape.
func (s *Service) dialect(w http.ResponseWriter, r *http.Request, status int, e *fault.Error) {
	if status == http.StatusUnauthorized {
		if s.cfg.AuthURI != "" {
			w.Header().Set("WWW-Authenticate", `Keystone uri="`+s.cfg.AuthURI+`"`)
		}
		body, _ := json.Marshal(map[string]any{"error": map[string]any{
			"code": status, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	httpx.Nova(w, r, status, e)
}

type route struct {
	pattern string
	h       httpx.HandlerFunc
	public  bool
}

// routes is the API. Everything under /v2 (the legacy API) is served by
// the same routes after the front door has rewritten it to /v2.1.
func (h *handlers) routes() []route {
	const p = "/v2.1"
	rs := []route{
		{"GET /{$}", h.versions, true},
		{"GET " + p, h.versionShow, true},
		{"GET " + p + "/{$}", h.versionShow, false},

		{"GET " + p + "/flavors", h.listFlavors, false},
		{"POST " + p + "/flavors", h.createFlavor, false},
		{"GET " + p + "/flavors/detail", h.listFlavorsDetail, false},
		{"GET " + p + "/flavors/{id}", h.showFlavor, false},
		{"PUT " + p + "/flavors/{id}", since(55, h.updateFlavor), false},
		{"DELETE " + p + "/flavors/{id}", h.deleteFlavor, false},
		{"POST " + p + "/flavors/{id}/action", h.flavorAction, false},
		{"GET " + p + "/flavors/{id}/os-extra_specs", h.listExtraSpecs, false},
		{"POST " + p + "/flavors/{id}/os-extra_specs", h.createExtraSpecs, false},
		{"GET " + p + "/flavors/{id}/os-extra_specs/{key}", h.showExtraSpec, false},
		{"PUT " + p + "/flavors/{id}/os-extra_specs/{key}", h.updateExtraSpec, false},
		{"DELETE " + p + "/flavors/{id}/os-extra_specs/{key}", h.deleteExtraSpec, false},
		{"GET " + p + "/flavors/{id}/os-flavor-access", h.listFlavorAccess, false},

		{"GET " + p + "/os-keypairs", h.listKeyPairs, false},
		{"POST " + p + "/os-keypairs", h.createKeyPair, false},
		{"GET " + p + "/os-keypairs/{name}", h.showKeyPair, false},
		{"DELETE " + p + "/os-keypairs/{name}", h.deleteKeyPair, false},

		{"GET " + p + "/limits", h.limits, false},
		{"GET " + p + "/os-quota-sets/{id}", h.showQuotaSet, false},
		{"PUT " + p + "/os-quota-sets/{id}", h.updateQuotaSet, false},
		{"DELETE " + p + "/os-quota-sets/{id}", h.deleteQuotaSet, false},
		{"GET " + p + "/os-quota-sets/{id}/detail", h.quotaSetDetail, false},
		{"GET " + p + "/os-quota-sets/{id}/defaults", h.quotaSetDefaults, false},
		{"GET " + p + "/os-quota-class-sets/{id}", h.showQuotaClass, false},
		{"PUT " + p + "/os-quota-class-sets/{id}", h.updateQuotaClass, false},

		{"GET " + p + "/os-availability-zone", h.listZones, false},
		{"GET " + p + "/os-availability-zone/detail", h.listZonesDetail, false},
	}
	// Each group of resources lists its own routes in its own file.
	for _, more := range [][]route{h.serverRoutes(), h.serverActionRoutes(), h.adminRoutes(), h.consoleRoutes(), h.moreRoutes()} {
		rs = append(rs, more...)
	}
	return rs
}

// since hides a route from microversions before 2.minor, with the plain
// 404 Nova gives for a method the version does not have.
func since(minor int, h httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !mv(r).AtLeast(minor) {
			return fault.NotFoundf("The resource could not be found.")
		}
		return h(w, r)
	}
}

// reqInfo is where a request came in, for the links of its answer.
type reqInfo struct {
	base       string // scheme://host[prefix], no trailing slash
	apiPrefix  string // "/v2.1" or "/v2"
	urlProject string // project id given in the URL, "" if none
}

type infoKey struct{}

func info(r *http.Request) reqInfo {
	ri, _ := r.Context().Value(infoKey{}).(reqInfo)
	return ri
}

// projectSegment is what Nova's router takes for a project id in URLs.
var projectSegment = regexp.MustCompile(`^[0-9a-f-]+$`)

// frontDoor does what Nova's paste pipeline does before the API: request
// ids, the /v2 legacy API, project ids in URLs, and microversion
// negotiation, whose headers every answer of a versioned request carries.
func (h *handlers) frontDoor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := httpx.NewRequestID()
		r.Header.Set(httpx.RequestIDHeader, id) // the router keeps it
		w.Header().Set(httpx.RequestIDHeader, id)
		w.Header().Set(ComputeRequestIDHeader, id)

		ri := reqInfo{base: h.svc.baseURL(r)}
		path := r.URL.Path
		legacy := false
		switch {
		case path == "/v2" || strings.HasPrefix(path, "/v2/"):
			legacy = true
			ri.apiPrefix = "/v2"
			path = "/v2.1" + strings.TrimPrefix(path, "/v2")
		case path == "/v2.1" || strings.HasPrefix(path, "/v2.1/"):
			ri.apiPrefix = "/v2.1"
		}
		if ri.apiPrefix != "" {
			rest := strings.TrimPrefix(path, "/v2.1/")
			if seg, after, _ := strings.Cut(rest, "/"); rest != path && projectSegment.MatchString(seg) {
				ri.urlProject = seg
				path = "/v2.1/" + after
			}
		}
		if path != r.URL.Path {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = path, ""
			r = r2
		}
		ctx := context.WithValue(r.Context(), infoKey{}, ri)
		if ri.apiPrefix != "" {
			var v Version
			if !legacy {
				var err error
				v, err = h.neg.Negotiate(r.Header)
				if err != nil {
					var ue *UnacceptableError
					if errors.As(err, &ue) {
						httpx.Nova(w, r, http.StatusNotAcceptable, &fault.Error{Msg: ue.Error()})
						return
					}
					httpx.Nova(w, r, http.StatusBadRequest, &fault.Error{Msg: err.(*fault.Error).Msg})
					return
				}
				h.neg.SetHeaders(w.Header(), v)
			}
			ctx = WithVersion(ctx, v)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// baseURL is the scheme and host the caller used (or the configured link
// prefix), as Nova's application_url behind http_proxy_to_wsgi.
func (s *Service) baseURL(r *http.Request) string {
	if s.cfg.LinkPrefix != "" {
		return strings.TrimRight(s.cfg.LinkPrefix, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = strings.TrimSpace(strings.Split(fh, ",")[0])
	}
	return scheme + "://" + host
}

// apiURL is the versioned API's URL of path ("/flavors/1"), with the
// project id when the request named one.
func apiURL(r *http.Request, path string) string {
	ri := info(r)
	u := ri.base + ri.apiPrefix
	if ri.urlProject != "" {
		u += "/" + ri.urlProject
	}
	return u + path
}

// bookmarkURL is the unversioned URL of path, Nova's bookmark link.
func bookmarkURL(r *http.Request, path string) string {
	ri := info(r)
	u := ri.base
	if ri.urlProject != "" {
		u += "/" + ri.urlProject
	}
	return u + path
}

type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// resourceLinks are a resource's self and bookmark links.
func resourceLinks(r *http.Request, collection, id string) []link {
	p := "/" + collection + "/" + url.PathEscape(id)
	return []link{{Rel: "self", Href: apiURL(r, p)}, {Rel: "bookmark", Href: bookmarkURL(r, p)}}
}

// nextLinks is Nova's collection links: a "next" link when the page is
// full (the limit asked, capped at the maximum, or the maximum).
func (h *handlers) nextLinks(r *http.Request, collection string, n int, lastID string) []link {
	maxItems := h.svc.cfg.MaxLimit
	if l, ok := lastParam(r, "limit"); ok {
		var asked int
		if err := json.Unmarshal([]byte(l), &asked); err == nil && asked < maxItems {
			maxItems = asked
		}
	}
	if maxItems == 0 || n != maxItems {
		return nil
	}
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		q.Set(k, vs[len(vs)-1])
	}
	q.Set("marker", lastID)
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = url.QueryEscape(k) + "=" + url.QueryEscape(q.Get(k))
	}
	return []link{{Rel: "next", Href: apiURL(r, "/"+collection) + "?" + strings.Join(parts, "&")}}
}

func principal(r *http.Request) *authn.Principal { return authn.From(r.Context()) }

// writeJSON writes v as Nova does: no HTML escaping.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return nil
}

// noBody answers with a status and no body (Nova's 202/204 deletes).
func noBody(w http.ResponseWriter, status int) error {
	if status != http.StatusNoContent {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "0")
	}
	w.WriteHeader(status)
	return nil
}
