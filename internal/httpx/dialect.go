package httpx

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Dialect writes an error body the way one OpenStack service does.
type Dialect func(w http.ResponseWriter, r *http.Request, status int, e *fault.Error)

// Keystone writes {"error": {"code": 404, "title": "Not Found", "message": "..."}}.
// 401s carry WWW-Authenticate as Keystone's do.
func Keystone(publicURL func(r *http.Request) string) Dialect {
	return func(w http.ResponseWriter, r *http.Request, status int, e *fault.Error) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Keystone uri="`+publicURL(r)+`"`)
		}
		writeBody(w, status, map[string]any{"error": map[string]any{
			"code": status, "title": http.StatusText(status), "message": e.Msg,
		}})
	}
}

// Nova writes {"itemNotFound": {"code": 404, "message": "..."}}, the shape
// Cinder shares.
func Nova(w http.ResponseWriter, r *http.Request, status int, e *fault.Error) {
	name := e.Type
	if name == "" {
		name = novaNames[status]
	}
	if name == "" {
		name = "computeFault"
	}
	writeBody(w, status, map[string]any{name: map[string]any{"code": status, "message": e.Msg}})
}

var novaNames = map[int]string{
	400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
	405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
	429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable",
}

// Neutron writes {"NeutronError": {"type": "...", "message": "...", "detail": ""}}.
func Neutron(w http.ResponseWriter, r *http.Request, status int, e *fault.Error) {
	typ := e.Type
	if typ == "" {
		typ = http.StatusText(status)
	}
	writeBody(w, status, map[string]any{"NeutronError": map[string]any{
		"type": typ, "message": e.Msg, "detail": "",
	}})
}

// PlainText writes the message as text, as Glance and Swift mostly do.
func PlainText(w http.ResponseWriter, r *http.Request, status int, e *fault.Error) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(e.Msg))
	}
}

func writeBody(w http.ResponseWriter, status int, body any) {
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// WebOb writes errors as Glance's webob does for non-HTML clients:
// "404 Not Found\n\n<message>\n\n   " as text/plain.
func WebOb(w http.ResponseWriter, r *http.Request, status int, e *fault.Error) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(strconv.Itoa(status) + " " + http.StatusText(status) + "\n\n" + e.Msg + "\n\n   "))
	}
}
