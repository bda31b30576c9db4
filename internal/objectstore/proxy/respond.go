package proxy

import (
	"net/http"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Swift answers every response with a Content-Type, an empty body
// included (swob's default), and Tempest checks that one is there.
const htmlType = "text/html; charset=UTF-8"

// writeStatus answers a bare status with Swift's body. A HEAD gets the
// headers with Content-Length 0, as Swift's proxy sends them.
func writeStatus(w http.ResponseWriter, r *http.Request, status int) {
	if r.Method == http.MethodHead {
		writeEmpty(w, status)
		return
	}
	switch status {
	case http.StatusCreated, http.StatusNoContent, http.StatusOK, http.StatusNotModified:
		writeEmpty(w, status)
		return
	}
	swift.WriteStatus(w, r, status)
}

// writeError answers status with Swift's reason as an HTML-typed body, as
// swob does for errors without an explicit content type.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if msg == "" || r.Method == http.MethodHead {
		writeStatus(w, r, status)
		return
	}
	swift.WriteError(w, r, status, msg)
}

// writeText answers status with msg as text/plain, as Swift's constraint
// checks do ("Metadata name too long: ...", "Missing Content-Length header.").
func writeText(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeBody(w, r, status, "text/plain", msg)
}

func writeBody(w http.ResponseWriter, r *http.Request, status int, contentType, body string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// writeEmpty answers a status without a body.
func writeEmpty(w http.ResponseWriter, status int) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", htmlType)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}
