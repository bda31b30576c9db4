package segment

import (
	"bytes"
	"net/http"
)

// Interceptor is the ResponseWriter a middleware hands down the pipeline
// when it may have to rewrite the answer (a large object's manifest
// instead of its content): when the status goes out, Capture looks at it
// and the headers; answers it does not want go to the client directly,
// without a copy, and the others are kept (the body up to Limit bytes)
// for the middleware to answer from.
type Interceptor struct {
	W       http.ResponseWriter
	Capture func(status int, h http.Header) bool
	Limit   int

	before   http.Header // the client's headers before the handler ran
	decided  bool
	captured bool

	// What was captured.
	Status   int
	Headers  http.Header
	Body     bytes.Buffer
	Overflow bool // the body was longer than Limit
}

// Captured reports whether the answer was kept rather than passed on.
func (c *Interceptor) Captured() bool { return c.captured }

// Header is the client's header map, so that an answer passing through
// costs no copy; when the answer is captured, the map is put back as it
// was before the handler ran.
func (c *Interceptor) Header() http.Header {
	h := c.W.Header()
	if c.before == nil {
		c.before = h.Clone()
	}
	return h
}

func (c *Interceptor) WriteHeader(status int) {
	if c.decided {
		return
	}
	if status < 200 && status != http.StatusSwitchingProtocols {
		// Informational answers (100-continue) are not the answer.
		c.W.WriteHeader(status)
		return
	}
	c.decided = true
	h := c.Header()
	if c.Capture(status, h) {
		c.captured = true
		c.Status, c.Headers = status, h.Clone()
		clear(h)
		for k, v := range c.before {
			h[k] = v
		}
		return
	}
	c.W.WriteHeader(status)
}

func (c *Interceptor) Write(b []byte) (int, error) {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
	if !c.captured {
		return c.W.Write(b)
	}
	n, room := len(b), max(c.Limit-c.Body.Len(), 0)
	if len(b) > room {
		c.Overflow = true
		b = b[:room]
	}
	c.Body.Write(b)
	return n, nil
}

// Flush passes a flush on when the answer passes through.
func (c *Interceptor) Flush() {
	if c.decided && !c.captured {
		if f, ok := c.W.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// Unwrap lets http.ResponseController reach the client's writer.
func (c *Interceptor) Unwrap() http.ResponseWriter { return c.W }

// Finish makes sure an answer that passed through has gone out even when
// the handler wrote nothing.
func (c *Interceptor) Finish() {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
}
