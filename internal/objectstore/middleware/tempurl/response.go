package tempurl

import (
	"net/http"
	"strings"
	"time"
)

// writer adjusts the response to a temp URL request: it hides the
// headers the outgoing rules remove and, for GET and HEAD, sets
// Content-Disposition and Expires.
type writer struct {
	http.ResponseWriter
	r       *http.Request // the client's request, before forwarding
	h       *handler
	g       grant
	wrote   bool
	discard bool // the response was replaced; the handler's body is dropped
}

func (w *writer) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	hdr := w.ResponseWriter.Header()
	w.h.out.apply(hdr)
	get := w.r.Method == http.MethodGet || w.r.Method == http.MethodHead
	if !get || status/100 != 2 {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	inline := w.g.p.inline
	if hdr.Get("X-Backend-Content-Generator") == "staticweb" {
		inline = true
	} else if w.g.object == "" {
		// A container root was let through only for staticweb's sake.
		for k := range hdr {
			delete(hdr, k)
		}
		w.discard = true
		invalid(w.ResponseWriter, w.r)
		return
	}
	filename := ""
	if w.g.p.filename != nil {
		filename = *w.g.p.filename
	}
	existing := hdr.Get("Content-Disposition")
	var disp string
	switch {
	case inline && filename != "":
		disp = contentDisposition("inline", filename)
	case inline:
		disp = "inline"
	case filename != "":
		disp = contentDisposition("attachment", filename)
	case existing != "":
		disp = existing
	default:
		disp = contentDisposition("attachment", baseName(w.r.URL.Path))
	}
	// Swift's guard against a header split by a newline in a name.
	hdr.Set("Content-Disposition", strings.ReplaceAll(disp, "\n", "%0A"))
	hdr.Set("Expires", time.Unix(w.g.expires, 0).UTC().Format(http.TimeFormat))
	w.ResponseWriter.WriteHeader(status)
}

func (w *writer) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.discard {
		f.Flush()
	}
}

func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
