package placement

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// version is a placement microversion, major.minor.
type version struct{ major, minor int }

var (
	minVersion = version{1, 0}
	maxVersion = version{1, 39}
)

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// atLeast reports whether v is minor or later (all versions are 1.x).
func (v version) atLeast(minor int) bool { return v.major > 1 || (v.major == 1 && v.minor >= minor) }

func (v version) less(o version) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

// parseVersionHeader reads "OpenStack-API-Version: placement X.Y" (the
// header may list several services). No header means the minimum.
func parseVersionHeader(h http.Header) (version, error) {
	raw := ""
	for _, line := range h.Values("OpenStack-API-Version") {
		for _, part := range strings.Split(line, ",") {
			svc, val, ok := strings.Cut(strings.TrimSpace(part), " ")
			if ok && strings.EqualFold(svc, "placement") {
				raw = strings.TrimSpace(val)
			}
		}
	}
	if raw == "" {
		return minVersion, nil
	}
	if raw == "latest" {
		return maxVersion, nil
	}
	maj, min, ok := strings.Cut(raw, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 {
		return version{}, fault.BadRequestf("invalid version string: %s", raw)
	}
	v := version{a, b}
	if v.less(minVersion) || maxVersion.less(v) {
		return v, errUnacceptable{v}
	}
	return v, nil
}

type errUnacceptable struct{ v version }

func (e errUnacceptable) Error() string {
	return fmt.Sprintf("Unacceptable version header: %s", e.v)
}

type versionKey struct{}

// mv is the microversion of the request.
func mv(r *http.Request) version {
	if v, ok := r.Context().Value(versionKey{}).(version); ok {
		return v
	}
	return minVersion
}

// dialect writes placement's errors: {"errors": [{"status", "title",
// "detail", "code" (from 1.23), "request_id"}]}. The code is the fault's
// Type.
func dialect(w http.ResponseWriter, r *http.Request, status int, e *fault.Error) {
	detail := e.Msg
	if status == http.StatusMethodNotAllowed {
		detail = "The method " + r.Method + " is not allowed for this resource."
	}
	item := map[string]any{"status": status, "title": http.StatusText(status), "detail": detail}
	if v, ok := r.Context().Value(versionKey{}).(version); ok && v.atLeast(23) {
		code := e.Type
		if !strings.HasPrefix(code, "placement.") {
			code = "placement.undefined_code"
		}
		item["code"] = code
	}
	if id := w.Header().Get(httpx.RequestIDHeader); id != "" {
		item["request_id"] = id
	} else if id := httpx.RequestID(r.Context()); id != "" {
		item["request_id"] = id
	}
	writeErrorBody(w, status, item)
}

func writeErrorBody(w http.ResponseWriter, status int, item map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Last-Modified")
	w.Header().Del("Cache-Control")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(map[string]any{"errors": []any{item}}))
}

// frontDoor is the outer layer of the API, as placement's microversion
// middleware and request checks: it negotiates the microversion, sets the
// version headers on every response and refuses what no route should see.
func frontDoor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(status int, msg string, extra map[string]any) {
			id := r.Header.Get(httpx.RequestIDHeader)
			if !strings.HasPrefix(id, "req-") || len(id) != 40 {
				id = httpx.NewRequestID()
			}
			w.Header().Set(httpx.RequestIDHeader, id)
			item := map[string]any{"status": status, "title": http.StatusText(status), "detail": msg, "request_id": id}
			for k, v := range extra {
				item[k] = v
			}
			writeErrorBody(w, status, item)
		}
		v, err := parseVersionHeader(r.Header)
		if err != nil {
			if u, ok := err.(errUnacceptable); ok {
				fail(http.StatusNotAcceptable, u.Error(), map[string]any{
					"max_version": maxVersion.String(), "min_version": minVersion.String()})
				return
			}
			fail(http.StatusBadRequest, err.(*fault.Error).Msg, nil)
			return
		}
		w.Header().Set("OpenStack-API-Version", "placement "+v.String())
		w.Header().Add("Vary", "openstack-api-version")
		r = r.WithContext(context.WithValue(r.Context(), versionKey{}, v))
		if r.ContentLength > 0 && r.Header.Get("Content-Type") == "" {
			writeErr(w, r, http.StatusBadRequest, "content-type header required when content-length > 0")
			return
		}
		if r.Method == http.MethodGet && needsJSONAccept(r.URL.Path) && !acceptsJSON(r.Header.Get("Accept")) {
			writeErr(w, r, http.StatusNotAcceptable, "Only application/json is provided")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeErr writes an error before the router has run.
func writeErr(w http.ResponseWriter, r *http.Request, status int, msg string) {
	id := httpx.NewRequestID()
	w.Header().Set(httpx.RequestIDHeader, id)
	dialect(w, r, status, &fault.Error{Msg: msg})
}

// needsJSONAccept is where placement checks Accept: every GET with a
// JSON body, which is all but the root and a single trait.
func needsJSONAccept(path string) bool {
	if path == "/" || path == "" {
		return false
	}
	if strings.HasPrefix(path, "/traits/") {
		return false
	}
	return true
}

// acceptsJSON is webob's acceptable_offers for one offer,
// application/json.
func acceptsJSON(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				continue
			}
		}
		switch mt {
		case "application/json", "application/*", "*/*":
			return true
		}
	}
	return false
}

// lastModified sets placement's caching headers (1.15+).
func lastModified(w http.ResponseWriter, r *http.Request, t time.Time) {
	if !mv(r).atLeast(15) {
		return
	}
	if t.IsZero() {
		t = time.Now()
	}
	w.Header().Set("Last-Modified", t.UTC().Format(http.TimeFormat))
	w.Header().Set("Cache-Control", "no-cache")
}
