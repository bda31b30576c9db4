// Package placementclient is the compute services' client of the
// Placement API: the conductor keeps each compute node's resource
// provider (inventory, traits, aggregates) in step with its heartbeats,
// and the scheduler asks for allocation candidates and claims them.
//
// It speaks HTTP only, so the placement behind it may be Nimbus's or
// OpenStack's. Every call sends OpenStack-API-Version: placement 1.39 and
// the service token of an authn.TokenSource; a 401 invalidates the token
// and the call is tried once more with a fresh one. A lost race on a
// provider or consumer generation is an *Error for which IsConflict is
// true: callers read again and retry.
package placementclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
)

// Version is the placement microversion every call asks for.
const Version = "1.39"

// maxBody bounds what the client reads of one response.
const maxBody = 64 << 20

// Client calls one placement endpoint.
type Client struct {
	url    string
	tokens authn.TokenSource
	hc     *http.Client
}

// New makes a client of the placement API at endpoint (e.g.
// "http://controller:8778", from the catalog), authenticating with
// tokens; hc nil is http.DefaultClient.
func New(endpoint string, tokens authn.TokenSource, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{url: strings.TrimRight(endpoint, "/"), tokens: tokens, hc: hc}
}

// Error is placement's answer to a failed call: its status, and from
// its error body the code (placement.concurrent_update ...) and detail.
type Error struct {
	Method, Path string
	Status       int
	Code         string
	Detail       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("placement %s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Detail)
}

// Placement's error codes the client's callers act on.
const (
	CodeConcurrentUpdate = "placement.concurrent_update"
	CodeDuplicateName    = "placement.duplicate_name"
	CodeInventoryInUse   = "placement.inventory.inuse"
)

// IsConflict reports whether err is a lost race on a generation (of a
// provider or a consumer), or a claim that no longer fits: 409s that a
// caller answers by reading again and retrying, or by trying another
// candidate.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusConflict && e.Code != CodeDuplicateName && e.Code != CodeInventoryInUse
}

// IsNotFound reports whether err is placement's 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// do sends one request with body (JSON-encoded unless nil) and decodes a
// 2xx answer into out (when not nil). A 401 is retried once with a fresh
// token.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return c.doVersion(ctx, Version, method, path, body, out)
}

// doVersion is do at another microversion, for answers whose shape
// changed at 1.39's side (usages grouped by consumer type from 1.38).
func (c *Client) doVersion(ctx context.Context, version, method, path string, body, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return fmt.Errorf("placement %s %s: encode: %w", method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		token, err := c.tokens.Token(ctx)
		if err != nil {
			return fmt.Errorf("placement %s %s: token: %w", method, path, err)
		}
		var rd io.Reader
		if data != nil {
			rd = bytes.NewReader(data)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
		if err != nil {
			return fmt.Errorf("placement %s %s: %w", method, path, err)
		}
		req.Header.Set("OpenStack-API-Version", "placement "+version)
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("Accept", "application/json")
		if data != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := c.hc.Do(req)
		if err != nil {
			return fmt.Errorf("placement %s %s: %w", method, path, err)
		}
		raw, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("placement %s %s: read answer: %w", method, path, err)
		}
		if res.StatusCode == http.StatusUnauthorized && attempt == 0 {
			c.tokens.Invalidate(token)
			continue
		}
		if res.StatusCode/100 != 2 {
			return parseError(method, path, res.StatusCode, raw)
		}
		if out == nil || len(raw) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("placement %s %s: decode answer: %w", method, path, err)
		}
		return nil
	}
}

func parseError(method, path string, status int, raw []byte) *Error {
	e := &Error{Method: method, Path: path, Status: status}
	var body struct {
		Errors []struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
			Title  string `json:"title"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &body) == nil && len(body.Errors) > 0 {
		e.Code, e.Detail = body.Errors[0].Code, body.Errors[0].Detail
		if e.Detail == "" {
			e.Detail = body.Errors[0].Title
		}
	} else {
		e.Detail = strings.TrimSpace(string(raw[:min(len(raw), 512)]))
	}
	return e
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }
