package identity

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// handlers serve the Identity API v3 over Service.
type handlers struct {
	svc *Service
}

// Handler returns the Identity API as an http.Handler.
func (s *Service) Handler(o httpx.Options) http.Handler {
	h := &handlers{svc: s}
	o.Dialect = httpx.Keystone(func(r *http.Request) string { return baseURL(r) + "/v3" })
	o.Authenticate = func(r *http.Request) (context.Context, error) {
		p, err := authn.Authenticate(r.Context(), s, r)
		if err != nil {
			return nil, err
		}
		return authn.With(r.Context(), p), nil
	}
	if o.Service == "" {
		o.Service = "identity"
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 112 * 1024 // Keystone's max_request_body_size
	}
	rt := httpx.NewRouter(o)
	h.routes(rt)
	if o.Metrics != nil {
		rt.Raw("GET /metrics", o.Metrics.Handler())
	}
	return rt
}

func (h *handlers) routes(rt routeTable) {
	rt.Public("GET /{$}", h.versions)
	rt.Public("GET /v3", h.version)
	rt.Public("GET /v3/{$}", h.version)

	rt.Public("POST /v3/auth/tokens", h.issueToken)
	rt.Handle("GET /v3/auth/tokens", h.checkToken)
	rt.Handle("HEAD /v3/auth/tokens", h.checkToken)
	rt.Handle("DELETE /v3/auth/tokens", h.revokeToken)
	rt.Handle("GET /v3/auth/catalog", h.authCatalog)
	rt.Handle("GET /v3/auth/projects", h.authProjects)
	rt.Handle("GET /v3/auth/domains", h.authDomains)
	rt.Handle("GET /v3/auth/system", h.authSystem)

	h.domainRoutes(rt)
	h.projectRoutes(rt)
	h.userRoutes(rt)
	h.groupRoutes(rt)
	h.roleRoutes(rt)
	h.assignmentRoutes(rt)
	h.catalogRoutes(rt)
	h.epFilterRoutes(rt)
	h.credentialRoutes(rt)
	h.appCredRoutes(rt)
	h.trustRoutes(rt)
	h.extraRoutes(rt)
}

// baseURL is the scheme and host the caller used, for links.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// selfLink makes {"self": URL} for a resource path under /v3.
func selfLink(r *http.Request, path string) map[string]any {
	return map[string]any{"self": baseURL(r) + "/v3/" + path}
}

// listLinks is the "links" of a collection.
func listLinks(r *http.Request) map[string]any {
	u := baseURL(r) + r.URL.Path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return map[string]any{"self": u, "previous": nil, "next": nil}
}

func principal(r *http.Request) *authn.Principal { return authn.From(r.Context()) }

// boolQuery reads an optional boolean filter as Keystone does: "0",
// "false", "no", "off" are false, anything else present is true.
func boolQuery(r *http.Request, name string) *bool {
	v, ok := r.URL.Query()[name]
	if !ok {
		return nil
	}
	s := ""
	if len(v) > 0 {
		s = strings.ToLower(v[0])
	}
	b := !(s == "0" || s == "false" || s == "no" || s == "off")
	return &b
}

// flagQuery is true when a query flag like ?nocatalog is present and not false.
func flagQuery(r *http.Request, name string) bool {
	b := boolQuery(r, name)
	return b != nil && *b
}

func csvQuery(r *http.Request, name string) []string {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func writeCreated(w http.ResponseWriter, v any) error {
	return httpx.WriteJSON(w, http.StatusCreated, v)
}

func writeOK(w http.ResponseWriter, v any) error {
	return httpx.WriteJSON(w, http.StatusOK, v)
}

// writeNoContent answers checks and deletes that have no body (204).
func writeNoContent(w http.ResponseWriter) error { return httpx.NoContent(w) }

// truncate applies list_limit: Keystone cuts the list and adds
// "truncated": true.
func (h *handlers) truncate(n int) (int, bool) {
	if l := h.svc.cfg.ListLimit; l > 0 && n > l {
		return l, true
	}
	return n, false
}

// reqString reads an optional JSON string field, rejecting other types.
func reqString(m map[string]any, key string) (*string, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	if v == nil {
		empty := ""
		return &empty, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fault.BadRequestf("Invalid input for field '%s': %v is not of type 'string'.", key, v)
	}
	return &s, nil
}

func reqBool(m map[string]any, key string) (*bool, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	b, ok := v.(bool)
	if !ok {
		return nil, fault.BadRequestf("Invalid input for field '%s': %v is not of type 'boolean'.", key, v)
	}
	return &b, nil
}

func reqStringList(m map[string]any, key string) (*[]string, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fault.BadRequestf("Invalid input for field '%s': not a list.", key)
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fault.BadRequestf("Invalid input for field '%s': items must be strings.", key)
		}
		out = append(out, s)
	}
	return &out, nil
}

// decodeEntity reads {"<key>": {...}} into a map and returns the inner
// object, rejecting anything else.
func decodeEntity(r *http.Request, key string) (map[string]any, error) {
	var body map[string]any
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	v, ok := body[key]
	if !ok {
		return nil, fault.BadRequestf("Expecting to find %s in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.", key)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fault.BadRequestf("Invalid input for field '%s': not an object.", key)
	}
	return m, nil
}

// fields reads the attributes of a request entity, keeping the first error
// so that a handler checks once, after reading what it needs.
type fields struct {
	m   map[string]any
	err error
}

// decodeFields reads {"<key>": {...}}.
func decodeFields(r *http.Request, key string) (*fields, error) {
	m, err := decodeEntity(r, key)
	if err != nil {
		return nil, err
	}
	return &fields{m: m}, nil
}

func (f *fields) str(key string) *string {
	if f.err != nil {
		return nil
	}
	v, err := reqString(f.m, key)
	f.err = err
	return v
}

func (f *fields) boolean(key string) *bool {
	if f.err != nil {
		return nil
	}
	v, err := reqBool(f.m, key)
	f.err = err
	return v
}

func (f *fields) strList(key string) *[]string {
	if f.err != nil {
		return nil
	}
	v, err := reqStringList(f.m, key)
	f.err = err
	return v
}

func (f *fields) options() map[string]any {
	if f.err != nil {
		return nil
	}
	v, err := reqOptions(f.m)
	f.err = err
	return v
}

// setStr and setBool assign an attribute that is present.
func (f *fields) setStr(dst *string, key string) {
	if v := f.str(key); v != nil {
		*dst = *v
	}
}

func (f *fields) setBool(dst *bool, key string) {
	if v := f.boolean(key); v != nil {
		*dst = *v
	}
}

// name is the required "name".
func (f *fields) name() string {
	v := f.str("name")
	if f.err == nil && v == nil {
		f.err = fault.BadRequestf("Invalid input for field 'name': 'name' is a required property.")
	}
	if v == nil {
		return ""
	}
	return *v
}

// password is a user's "password": absent or null means none.
func (f *fields) password() *string {
	v, ok := f.m["password"]
	if f.err != nil || !ok || v == nil {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		f.err = fault.BadRequestf("Invalid input for field 'password': not a string.")
		return nil
	}
	return &s
}

// done reports the first error, or a body "id" that is not the path's:
// ids never change ("Cannot change <kind> ID.").
func (f *fields) done(r *http.Request, kind string) error {
	if f.err != nil {
		return f.err
	}
	if id, ok := f.m["id"]; ok && id != r.PathValue("id") {
		return fault.BadRequestf("Cannot change %s ID.", kind)
	}
	return nil
}

// extraFields returns the attributes of m not in known: Keystone keeps
// them and shows them back.
func extraFields(m map[string]any, known ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		skip := false
		for _, kn := range known {
			if k == kn {
				skip = true
				break
			}
		}
		if !skip {
			out[k] = v
		}
	}
	return out
}

func withExtra(base map[string]any, extra map[string]any) map[string]any {
	for k, v := range extra {
		if _, taken := base[k]; !taken {
			base[k] = v
		}
	}
	return base
}

func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// routeTable is what route-registering functions need of the router.
type routeTable interface {
	Handle(pattern string, h httpx.HandlerFunc)
	Public(pattern string, h httpx.HandlerFunc)
}

func decodeStrict(r *http.Request, v any) error { return httpx.DecodeJSONStrict(r, v) }

func httpxCreatedEmpty(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusCreated)
	return nil
}
