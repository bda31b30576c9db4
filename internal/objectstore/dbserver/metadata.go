package dbserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// metaItem is one metadata value and when it was set. An empty value is a
// deletion; it is kept (and not shown) so that it wins over an older value
// a replica may still hold.
type metaItem struct {
	Value     string
	Timestamp swift.Timestamp
}

// metadata maps canonical header names to their newest values. On disk and
// on the wire it is JSON {name: [value, timestamp]}, as Swift keeps it.
type metadata map[string]metaItem

func (m metadata) encode() (string, error) {
	raw := make(map[string][2]string, len(m))
	for k, v := range m {
		raw[k] = [2]string{v.Value, v.Timestamp.Internal()}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return "", fmt.Errorf("encode metadata: %w", err)
	}
	return string(b), nil
}

func decodeMetadata(s string) (metadata, error) {
	var raw map[string][2]string
	if s != "" {
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return nil, fmt.Errorf("decode metadata: %w", err)
		}
	}
	m := make(metadata, len(raw))
	for k, v := range raw {
		ts, err := swift.ParseTimestamp(v[1])
		if err != nil {
			return nil, fmt.Errorf("decode metadata %s: %w", k, err)
		}
		m[http.CanonicalHeaderKey(k)] = metaItem{Value: v[0], Timestamp: ts}
	}
	return m, nil
}

func (m metadata) MarshalJSON() ([]byte, error) {
	s, err := m.encode()
	return []byte(s), err
}

func (m *metadata) UnmarshalJSON(b []byte) error {
	d, err := decodeMetadata(string(b))
	if err != nil {
		return err
	}
	*m = d
	return nil
}

// merge takes every item of in that is newer than the one held, key by
// key, and reports whether anything changed. Equal timestamps with
// different values (two writers in one 10 µs tick) keep the greater
// value, so every replica settles on the same one.
func (m metadata) merge(in metadata) bool {
	changed := false
	for k, v := range in {
		cur, ok := m[k]
		if !ok || v.Timestamp.After(cur.Timestamp) ||
			(v.Timestamp.Compare(cur.Timestamp) == 0 && v.Value > cur.Value) {
			m[k] = v
			changed = true
		}
	}
	return changed
}

// reclaim forgets deletions older than before; they have had time to
// reach every replica.
func (m metadata) reclaim(before swift.Timestamp) bool {
	changed := false
	for k, v := range m {
		if v.Value == "" && before.After(v.Timestamp) {
			delete(m, k)
			changed = true
		}
	}
	return changed
}

// setHeaders adds the values (not the deletions) to h.
func (m metadata) setHeaders(h http.Header) {
	for k, v := range m {
		if v.Value != "" {
			h.Set(k, v.Value)
		}
	}
}

// notMetadata are X-Container-* and X-Account-* headers that are not
// metadata: stats the servers compute, and where to send updates.
var notMetadata = map[string]bool{
	"X-Container-Object-Count":   true,
	"X-Container-Bytes-Used":     true,
	"X-Container-Host":           true,
	"X-Container-Device":         true,
	"X-Container-Partition":      true,
	"X-Container-Timestamp":      true,
	"X-Container-Meta-":          true,
	"X-Container-Sysmeta-":       true,
	"X-Account-Container-Count":  true,
	"X-Account-Object-Count":     true,
	"X-Account-Bytes-Used":       true,
	"X-Account-Host":             true,
	"X-Account-Device":           true,
	"X-Account-Partition":        true,
	"X-Account-Override-Deleted": true,
	"X-Account-Status":           true,
	"X-Account-Meta-":            true,
	"X-Account-Sysmeta-":         true,
}

// containerExtra are container settings Swift keeps that are not named
// X-Container-*.
var containerExtra = map[string]bool{
	"X-Versions-Location": true,
	"X-History-Location":  true,
	"X-Versions-Mode":     true,
}

// isMetadata reports whether a request header of a container (or account)
// PUT or POST is kept as the container's (account's) metadata: user and
// system metadata, ACLs, sync and versioning settings; every
// X-Container-* (X-Account-*) header except the stats.
func isMetadata(k kind, key string) bool {
	if notMetadata[key] {
		return false
	}
	if k == kindAccount {
		return strings.HasPrefix(key, "X-Account-") && !strings.HasPrefix(key, "X-Account-Storage-Policy-")
	}
	return strings.HasPrefix(key, "X-Container-") || containerExtra[key]
}

// metadataFromHeaders is the metadata a request sets, stamped with its
// timestamp; an empty header value deletes the key.
func metadataFromHeaders(k kind, h http.Header, ts swift.Timestamp) metadata {
	m := metadata{}
	for key, vals := range h {
		key = http.CanonicalHeaderKey(key)
		if !isMetadata(k, key) || len(vals) == 0 {
			continue
		}
		m[key] = metaItem{Value: vals[0], Timestamp: ts}
	}
	return m
}
