package swift

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
)

// creds returns the cached storage URL and token, asking Endpoint when
// there are none or when stale is the token Swift just refused.
func (s *Store) creds(ctx context.Context, stale string) (string, string, error) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	if s.token != "" && s.token != stale {
		return s.storageURL, s.token, nil
	}
	u, tok, err := s.endpoint(ctx)
	if err != nil {
		return "", "", fmt.Errorf("swift endpoint: %w", err)
	}
	if u == "" || tok == "" {
		return "", "", errors.New("swift endpoint: empty storage URL or token")
	}
	s.storageURL, s.token = strings.TrimSuffix(u, "/"), tok
	return s.storageURL, s.token, nil
}

// objectURL is storageURL/container[/name], each part of name escaped.
func objectURL(storageURL, container, name, query string) string {
	var b strings.Builder
	b.WriteString(storageURL)
	b.WriteString("/")
	b.WriteString(url.PathEscape(container))
	if name != "" {
		for _, p := range strings.Split(name, "/") {
			b.WriteString("/")
			b.WriteString(url.PathEscape(p))
		}
	}
	if query != "" {
		b.WriteString("?")
		b.WriteString(query)
	}
	return b.String()
}

// send makes one request, and once more with a fresh token if Swift
// answers 401. A streamed body is sent chunked after "100 Continue", and
// tried again only if the refused try read none of it.
func (s *Store) send(ctx context.Context, method, container, name, query string, h http.Header, body *segBody) (*http.Response, error) {
	return s.do(ctx, method, container, name, query, h, func() (io.Reader, int64, bool) {
		r, ok := body.next()
		return r, -1, ok
	})
}

// sendBytes is send with a body held in memory (nil: none).
func (s *Store) sendBytes(ctx context.Context, method, container, name, query string, h http.Header, body []byte) (*http.Response, error) {
	return s.do(ctx, method, container, name, query, h, func() (io.Reader, int64, bool) {
		if body == nil {
			return nil, 0, true
		}
		return bytes.NewReader(body), int64(len(body)), true
	})
}

func (s *Store) do(ctx context.Context, method, container, name, query string, h http.Header, body func() (io.Reader, int64, bool)) (*http.Response, error) {
	stale := ""
	for try := 0; ; try++ {
		storageURL, token, err := s.creds(ctx, stale)
		if err != nil {
			return nil, err
		}
		r, n, ok := body()
		if !ok {
			return nil, errors.New("swift refused the token after the upload had begun")
		}
		req, err := http.NewRequestWithContext(ctx, method, objectURL(storageURL, container, name, query), nil)
		if err != nil {
			return nil, err
		}
		for k, v := range h {
			req.Header[k] = v
		}
		req.Header.Set("X-Auth-Token", token)
		if r != nil {
			req.Body = io.NopCloser(r)
			req.ContentLength = n
			if n < 0 {
				// Send no data until Swift has taken the token. Go sends
				// the body after a refusal all the same on a connection it
				// keeps, so this one is not kept: a handshake per segment.
				req.Header.Set("Expect", "100-continue")
				req.Close = true
			}
		} else if method == http.MethodPut {
			req.ContentLength = 0
			req.Header.Set("Content-Length", "0")
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && try == 0 {
			drain(resp)
			stale = token
			continue
		}
		return resp, nil
	}
}

// drain reads a little of a response body, so the connection may be
// reused, and closes it.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// swiftError is an unexpected answer from Swift, for the logs.
type swiftError struct {
	action string
	status string
	body   string
}

func (e *swiftError) Error() string {
	msg := fmt.Sprintf("%s: swift answered %s", e.action, e.status)
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

func newSwiftError(resp *http.Response, action string) *swiftError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &swiftError{action: action, status: resp.Status, body: strings.TrimSpace(string(b))}
}

// statusErr classifies an unexpected status of a read: 404 is NotFound.
func statusErr(resp *http.Response, action string) error {
	err := newSwiftError(resp, action)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fault.Wrap(fault.NotFound, err, "Image data not found.")
	case http.StatusServiceUnavailable:
		return fault.Wrap(fault.Unavailable, err, "The image store is unavailable.")
	}
	return err
}

// putStatusErr classifies an unexpected status of a write: a full cluster
// (507) or a container or account quota (413) is the store being full.
func putStatusErr(resp *http.Response, action string) error {
	err := newSwiftError(resp, action)
	switch resp.StatusCode {
	case http.StatusRequestEntityTooLarge, http.StatusInsufficientStorage:
		return store.ErrFull(err)
	case http.StatusServiceUnavailable:
		return fault.Wrap(fault.Unavailable, err, "The image store is unavailable.")
	}
	return err
}
