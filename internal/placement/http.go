package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// Error codes placement shows from microversion 1.23 (fault.Error.Type).
const (
	codeInventoryInUse     = "placement.inventory.inuse"
	codeConcurrentUpdate   = "placement.concurrent_update"
	codeDuplicateName      = "placement.duplicate_name"
	codeProviderInUse      = "placement.resource_provider.inuse"
	codeCannotDeleteParent = "placement.resource_provider.cannot_delete_parent"
	codeProviderNotFound   = "placement.resource_provider.not_found"
	codeDuplicateKey       = "placement.query.duplicate_key"
	codeBadValue           = "placement.query.bad_value"
	codeMissingValue       = "placement.query.missing_value"
)

func coded(kind fault.Kind, code, format string, args ...any) *fault.Error {
	return &fault.Error{Kind: kind, Type: code, Msg: fmt.Sprintf(format, args...)}
}

type handlers struct{ svc *Service }

// Handler returns the Placement API, authenticating callers with v. The
// root (version discovery) needs no token.
func (s *Service) Handler(o httpx.Options, v authn.Validator) http.Handler {
	h := &handlers{svc: s}
	o.Dialect = dialect
	o.Authenticate = func(r *http.Request) (context.Context, error) {
		p, err := authn.Authenticate(r.Context(), v, r)
		if err != nil {
			return nil, err
		}
		return authn.With(r.Context(), p), nil
	}
	if o.Service == "" {
		o.Service = "placement"
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
	return frontDoor(rt)
}

type route struct {
	pattern string
	h       httpx.HandlerFunc
	public  bool
}

func (h *handlers) routes() []route {
	return []route{
		{"GET /{$}", h.root, true},
		{"GET /resource_classes", since(2, h.listClasses), false},
		{"POST /resource_classes", since(2, h.createClass), false},
		{"GET /resource_classes/{name}", since(2, h.getClass), false},
		{"PUT /resource_classes/{name}", since(2, h.putClass), false},
		{"DELETE /resource_classes/{name}", since(2, h.deleteClass), false},
		{"GET /resource_providers", h.listProviders, false},
		{"POST /resource_providers", h.createProvider, false},
		{"GET /resource_providers/{uuid}", h.getProvider, false},
		{"PUT /resource_providers/{uuid}", h.updateProvider, false},
		{"DELETE /resource_providers/{uuid}", h.deleteProvider, false},
		{"GET /resource_providers/{uuid}/inventories", h.getInventories, false},
		{"POST /resource_providers/{uuid}/inventories", h.createInventory, false},
		{"PUT /resource_providers/{uuid}/inventories", h.setInventories, false},
		{"DELETE /resource_providers/{uuid}/inventories", h.deleteInventories, false},
		{"GET /resource_providers/{uuid}/inventories/{rc}", h.getInventory, false},
		{"PUT /resource_providers/{uuid}/inventories/{rc}", h.updateInventory, false},
		{"DELETE /resource_providers/{uuid}/inventories/{rc}", h.deleteInventory, false},
		{"GET /resource_providers/{uuid}/usages", h.providerUsages, false},
		{"GET /resource_providers/{uuid}/aggregates", since(1, h.getAggregates), false},
		{"PUT /resource_providers/{uuid}/aggregates", since(1, h.setAggregates), false},
		{"GET /resource_providers/{uuid}/allocations", h.providerAllocations, false},
		{"GET /resource_providers/{uuid}/traits", since(6, h.providerTraits), false},
		{"PUT /resource_providers/{uuid}/traits", since(6, h.setProviderTraits), false},
		{"DELETE /resource_providers/{uuid}/traits", since(6, h.deleteProviderTraits), false},
		{"POST /allocations", since(13, h.postAllocations), false},
		{"GET /allocations/{consumer}", h.getAllocations, false},
		{"PUT /allocations/{consumer}", h.putAllocations, false},
		{"DELETE /allocations/{consumer}", h.deleteAllocations, false},
		{"GET /allocation_candidates", since(10, h.allocationCandidates), false},
		{"GET /traits", since(6, h.listTraits), false},
		{"GET /traits/{name}", since(6, h.getTrait), false},
		{"PUT /traits/{name}", since(6, h.putTrait), false},
		{"DELETE /traits/{name}", since(6, h.deleteTrait), false},
		{"GET /usages", since(9, h.totalUsages), false},
		{"POST /reshaper", since(30, h.reshape), false},
	}
}

// since hides a route from microversions before 1.minor, with
// placement's 404.
func since(minor int, h httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !mv(r).atLeast(minor) {
			return fault.NotFoundf("The resource could not be found.")
		}
		return h(w, r)
	}
}

func principal(r *http.Request) *authn.Principal { return authn.From(r.Context()) }

func (h *handlers) root(w http.ResponseWriter, r *http.Request) error {
	lastModified(w, r, h.svc.now())
	return writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v" + minVersion.String(), "min_version": minVersion.String(), "max_version": maxVersion.String(),
		"status": "CURRENT", "links": []any{map[string]any{"rel": "self", "href": ""}},
	}}})
}

// mustJSON encodes as Python's json does: no HTML escaping.
func mustJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(v))
	return nil
}

// noContent writes 204 without a content type.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// object is a JSON object body read field by field, so that validation
// messages read like placement's JSON-schema ones.
type object map[string]json.RawMessage

// wantJSON is placement's require_content: bodies are application/json.
func wantJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt != "application/json" {
		if ct == "" {
			ct = "None"
		}
		return fault.New(fault.UnsupportedMediaType, "The media type %s is not supported, use application/json", ct)
	}
	return nil
}

// readBody checks the media type and reads the JSON body.
func readBody(r *http.Request) (json.RawMessage, error) {
	if err := wantJSON(r); err != nil {
		return nil, err
	}
	if r.Body == nil {
		return nil, fault.BadRequestf("Malformed JSON: Expecting value: line 1 column 1 (char 0)")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := err.(*http.MaxBytesError); ok {
			return nil, fault.New(fault.TooLarge, "Request is too large.")
		}
		return nil, fault.Wrap(fault.BadRequest, err, "Malformed JSON: could not read the body.")
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, fault.BadRequestf("Malformed JSON: Expecting value: line 1 column 1 (char 0)")
	}
	return data, nil
}

// readObject reads a body that must be a JSON object with only the
// allowed keys and all the required ones.
func readObject(r *http.Request, allowed []string, required ...string) (object, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return parseObject(data, "", allowed, required...)
}

func parseObject(data json.RawMessage, where string, allowed []string, required ...string) (object, error) {
	var o object
	if err := json.Unmarshal(data, &o); err != nil || o == nil || data[0] != '{' {
		return nil, invalid("%s is not of type 'object'", pyRepr(data))
	}
	if allowed != nil {
		var extra []string
		for k := range o {
			if !contains(allowed, k) {
				extra = append(extra, "'"+k+"'")
			}
		}
		if len(extra) > 0 {
			verb := "was"
			if len(extra) > 1 {
				verb = "were"
			}
			return nil, invalid("Additional properties are not allowed (%s %s unexpected)%s", strings.Join(extra, ", "), verb, where)
		}
	}
	for _, k := range required {
		if _, ok := o[k]; !ok {
			return nil, invalid("'%s' is a required property%s", k, where)
		}
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// invalid is placement's 400 for a body that fails its schema, worded as
// jsonschema words it.
func invalid(format string, args ...any) *fault.Error {
	msg := fmt.Sprintf(format, args...)
	if !strings.Contains(msg, "Failed validating") {
		for _, k := range []struct{ text, keyword string }{
			{"is a required property", "required"}, {"is too long", "maxLength"}, {"] is too short", "minItems"},
			{"is too short", "minLength"}, {"does not match", "pattern"}, {"is not of type", "type"},
			{"Additional properties", "additionalProperties"}, {"does not have enough properties", "minProperties"},
			{"is less than the minimum", "minimum"}, {"is greater than the maximum", "maximum"},
			{"non-unique", "uniqueItems"}, {"is not a 'uuid'", "format"},
		} {
			if strings.Contains(msg, k.text) {
				msg += "\n\nFailed validating '" + k.keyword + "' in schema"
				break
			}
		}
	}
	return fault.BadRequestf("JSON does not validate: %s", msg)
}

// pyRepr shows a JSON value as Python's repr does in jsonschema's messages.
func pyRepr(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	switch x := v.(type) {
	case string:
		return "'" + x + "'"
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return string(raw)
}

func (o object) has(k string) bool { _, ok := o[k]; return ok }

func (o object) isNull(k string) bool { return string(o[k]) == "null" }

// str reads a string field; maxLen 0 = no limit.
func (o object) str(k string, minLen, maxLen int) (string, error) {
	var s string
	if err := json.Unmarshal(o[k], &s); err != nil || len(o[k]) == 0 || o[k][0] != '"' {
		return "", invalid("%s is not of type 'string'", pyRepr(o[k]))
	}
	if len(s) < minLen {
		return "", invalid("'%s' is too short", s)
	}
	if maxLen > 0 && len([]rune(s)) > maxLen {
		return "", invalid("'%s' is too long", s)
	}
	return s, nil
}

// uuidField reads a string in UUID form and returns it canonical.
func (o object) uuidField(k string) (string, error) {
	s, err := o.str(k, 0, 0)
	if err != nil {
		return "", err
	}
	c, ok := canonicalUUID(s)
	if !ok {
		return "", invalid("'%s' is not a 'uuid'", s)
	}
	return c, nil
}

// integer reads a JSON integer (1.0 is not one, as in jsonschema).
func integer(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if strings.ContainsAny(s, ".eE\"") || s == "null" || s == "true" || s == "false" || len(s) == 0 ||
		s[0] == '[' || s[0] == '{' {
		return 0, invalid("%s is not of type 'integer'", pyRepr(raw))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, invalid("%s is not of type 'integer'", pyRepr(raw))
	}
	return n, nil
}

func (o object) int(k string) (int64, error) { return integer(o[k]) }

// canonicalUUID accepts what oslo's is_uuid_like does (any case, with or
// without dashes) and returns the lower-case dashed form.
func canonicalUUID(s string) (string, bool) {
	if len(s) != 32 && len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

var (
	rcPattern        = regexp.MustCompile(`^[A-Z0-9_]+$`)
	customPattern    = regexp.MustCompile(`^CUSTOM_[A-Z0-9_]+$`)
	uuidPattern      = regexp.MustCompile(`^[0-9a-fA-F-]{36}$`)
	groupPattern     = regexp.MustCompile(`^[1-9][0-9]*$`)
	groupPattern1_33 = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// stringList reads a JSON array of strings of the given lengths.
func stringList(raw json.RawMessage, minLen, maxLen int) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(raw) == 0 || raw[0] != '[' {
		return nil, invalid("%s is not of type 'array'", pyRepr(raw))
	}
	out := []string{}
	for _, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err != nil || it[0] != '"' {
			return nil, invalid("%s is not of type 'string'", string(it))
		}
		if len(s) < minLen {
			return nil, invalid("'%s' is too short", s)
		}
		if maxLen > 0 && len(s) > maxLen {
			return nil, invalid("'%s' is too long", s)
		}
		out = append(out, s)
	}
	return out, nil
}
