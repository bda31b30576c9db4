package slo

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
)

// inputSegment is one entry of a manifest as a client PUTs it: an object
// segment (Path, with what to check) or inline data.
type inputSegment struct {
	IsData bool
	Data   []byte // decoded inline data
	Path   string // "/container/object" (as given; the leading slash is optional)
	Etag   *string
	Size   int64 // -1: not given
	Range  *segment.RangeSpec
}

// parseInput reads and checks a manifest PUT body as Swift's
// parse_and_validate_input: the problems, one line each ("Index 2:
// invalid range"), or the segments. self is the manifest's own path
// below the version ("/a/c/o" as "/v1/" + account + ...), which may not
// be one of its segments.
func parseInput(body []byte, account, self string) ([]inputSegment, []string) {
	var raw any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || dec.More() {
		return nil, []string{"Manifest must be valid JSON."}
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, []string{"Manifest must be a list."}
	}
	var segs []inputSegment
	var problems []string
	for i, item := range list {
		seg, msg := parseEntry(item, i, len(list), account, self)
		if msg != "" {
			problems = append(problems, fmt.Sprintf("Index %d: %s", i, msg))
			continue
		}
		segs = append(segs, seg)
	}
	allData := len(list) > 0
	for _, item := range list {
		if m, ok := item.(map[string]any); !ok || !hasKey(m, "data") {
			allData = false
		}
	}
	if allData {
		problems = append(problems, "Inline data segments require at least one object-backed segment.")
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return segs, nil
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// The keys a segment may have, by its kind.
var segmentKeys = map[string][]string{
	"data": {"data"},
	"path": {"path", "etag", "size_bytes", "range"},
}

func parseEntry(item any, index, count int, account, self string) (inputSegment, string) {
	m, ok := item.(map[string]any)
	if !ok {
		return inputSegment{}, "not a JSON object"
	}
	kind := ""
	switch {
	case hasKey(m, "data"):
		kind = "data"
	case hasKey(m, "path"):
		kind = "path"
	default:
		return inputSegment{}, "expected keys to include one of 'data' or 'path'"
	}
	var extra []string
	for k := range m {
		if !slices.Contains(segmentKeys[kind], k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		for i, k := range extra {
			extra[i] = bulk.QuoteJSON(k)
		}
		return inputSegment{}, "extraneous keys " + strings.Join(extra, ", ")
	}
	if kind == "data" {
		data, ok := strictBase64(m["data"])
		if !ok {
			return inputSegment{}, "data must be valid base64"
		}
		if len(data) < 1 {
			return inputSegment{}, "too small; each segment must be at least 1 byte."
		}
		return inputSegment{IsData: true, Data: data}, ""
	}

	seg := inputSegment{Size: -1}
	path, ok := m["path"].(string)
	if !ok {
		return seg, `"path" must be a string`
	}
	seg.Path = path
	switch e := m["etag"].(type) {
	case nil:
	case string:
		seg.Etag = &e
	default:
		return seg, `"etag" must be a string or null (if provided)`
	}
	if !strings.Contains(strings.Trim(path, "/"), "/") {
		return seg, "path does not refer to an object. Path must be of the form /container/object."
	}
	if v, given := m["size_bytes"]; given && v != nil {
		n, ok := pyInt(v)
		if !ok {
			return seg, "invalid size_bytes"
		}
		if n < 1 && index != count-1 {
			return seg, "too small; each segment must be at least 1 byte."
		}
		seg.Size = n
	}
	if "/"+account+"/"+strings.TrimLeft(path, "/") == self {
		return seg, "manifest must not include itself as a segment"
	}
	if v := m["range"]; truthy(v) {
		s, ok := v.(string)
		specs, valid := segment.ParseRange("bytes=" + s)
		if !ok || !valid {
			return seg, "invalid range"
		}
		if len(specs) > 1 {
			return seg, "multiple ranges (only one allowed)"
		}
		if seg.Size >= 0 && len(segment.Resolve(specs, seg.Size)) != 1 {
			return seg, "unsatisfiable range"
		}
		seg.Range = &specs[0]
	}
	return seg, ""
}

// pyInt is Python's int() of a JSON value: integers, floats truncated,
// booleans, and strings of an integer.
func pyInt(v any) (int64, bool) {
	switch v := v.(type) {
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, true
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	case string:
		s := strings.ReplaceAll(strings.TrimSpace(v), "_", "")
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && !strings.HasPrefix(strings.TrimSpace(v), "_")
	}
	return 0, false
}

// truthy is Python's truth of a JSON value.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		f, err := v.Float64()
		return err != nil || f != 0
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	}
	return true
}

// strictBase64 decodes as Swift's strict_b64decode: only the base64
// alphabet, padded as Python's decoder requires (surplus "=" allowed).
func strictBase64(v any) ([]byte, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	data := strings.TrimRight(s, "=")
	if strings.TrimLeft(data, "=") != data {
		return nil, false
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, false
		}
	}
	pads := len(s) - len(data)
	switch len(data) % 4 {
	case 1:
		return nil, false
	case 2:
		if pads < 2 {
			return nil, false
		}
	case 3:
		if pads < 1 {
			return nil, false
		}
	}
	out, err := base64.RawStdEncoding.DecodeString(data)
	return out, err == nil
}

// storedSegment is one entry of a manifest as it is stored (the body of
// the manifest object, which ?multipart-manifest=get returns).
type storedSegment struct {
	IsData       bool
	Data         []byte
	Name         string // "/container/object"
	Bytes        int64  // the segment object's size
	Hash         string // its etag
	ContentType  string
	LastModified string
	Range        string // "first-last" within the segment, "" for all
	SubSLO       bool   // the segment is itself a static large object
}

// length is how many bytes the segment adds to the large object.
func (s storedSegment) length() int64 {
	if s.IsData {
		return int64(len(s.Data))
	}
	if first, last, ok := parseStoredRange(s.Range); ok {
		return last - first + 1
	}
	return s.Bytes
}

// parseStoredRange reads the "first-last" the middleware wrote.
func parseStoredRange(r string) (first, last int64, ok bool) {
	a, b, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	return first, last, err1 == nil && err2 == nil && first >= 0 && last >= first
}

// etagPart is what a segment adds to the large object's etag: its own
// etag, with its range as "etag:first-last;", or for inline data the MD5
// of the data.
func (s storedSegment) etagPart() string {
	switch {
	case s.IsData:
		sum := md5.Sum(s.Data)
		return hex.EncodeToString(sum[:])
	case s.Range != "":
		return s.Hash + ":" + s.Range + ";"
	}
	return s.Hash
}

// sloEtag is the large object's etag: the MD5 of its segments' parts.
func sloEtag(segs []storedSegment) string {
	h := md5.New()
	for _, s := range segs {
		h.Write([]byte(s.etagPart()))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func totalSize(segs []storedSegment) int64 {
	var n int64
	for _, s := range segs {
		n += s.length()
	}
	return n
}

// encodeManifest writes the stored form as Python's json.dumps does, so
// the manifest (and its MD5) is what Swift would store.
func encodeManifest(segs []storedSegment) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range segs {
		if i > 0 {
			b.WriteString(", ")
		}
		if s.IsData {
			b.WriteString(`{"data": "` + base64.StdEncoding.EncodeToString(s.Data) + `"}`)
			continue
		}
		b.WriteString(`{"name": ` + bulk.QuoteJSON(s.Name))
		b.WriteString(`, "bytes": ` + strconv.FormatInt(s.Bytes, 10))
		b.WriteString(`, "hash": ` + bulk.QuoteJSON(s.Hash))
		b.WriteString(`, "content_type": ` + bulk.QuoteJSON(s.ContentType))
		b.WriteString(`, "last_modified": ` + bulk.QuoteJSON(s.LastModified))
		if s.Range != "" {
			b.WriteString(`, "range": ` + bulk.QuoteJSON(s.Range))
		}
		if s.SubSLO {
			b.WriteString(`, "sub_slo": true`)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// encodeRaw writes the manifest in the form it is PUT (format=raw), keys
// sorted as Swift's json.dumps(sort_keys=True).
func encodeRaw(segs []storedSegment) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range segs {
		if i > 0 {
			b.WriteString(", ")
		}
		if s.IsData {
			b.WriteString(`{"data": "` + base64.StdEncoding.EncodeToString(s.Data) + `"}`)
			continue
		}
		b.WriteString(`{"etag": ` + bulk.QuoteJSON(s.Hash))
		b.WriteString(`, "path": ` + bulk.QuoteJSON(s.Name))
		if s.Range != "" {
			b.WriteString(`, "range": ` + bulk.QuoteJSON(s.Range))
		}
		b.WriteString(`, "size_bytes": ` + strconv.FormatInt(s.Bytes, 10) + "}")
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// decodeManifest reads a stored manifest; it accepts what older writers
// stored too (sizes as strings, "sub_slo" as a string).
func decodeManifest(body []byte) ([]storedSegment, error) {
	var list []map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	segs := make([]storedSegment, 0, len(list))
	for i, m := range list {
		if d, ok := m["data"]; ok {
			s, _ := d.(string)
			data, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("decode manifest: segment %d: bad data: %w", i, err)
			}
			segs = append(segs, storedSegment{IsData: true, Data: data})
			continue
		}
		s := storedSegment{}
		s.Name, _ = m["name"].(string)
		s.Hash, _ = m["hash"].(string)
		s.ContentType, _ = m["content_type"].(string)
		s.LastModified, _ = m["last_modified"].(string)
		s.Range, _ = m["range"].(string)
		n, ok := pyInt(m["bytes"])
		if !ok || s.Name == "" {
			return nil, fmt.Errorf("decode manifest: segment %d: no name or size", i)
		}
		s.Bytes = n
		switch v := m["sub_slo"].(type) {
		case bool:
			s.SubSLO = v
		case string:
			s.SubSLO = trueValue(v)
		}
		if s.SubSLO {
			// Older manifests kept a sub-manifest's size in its content
			// type's swift_bytes.
			if ct, size, ok := cutSwiftBytes(s.ContentType); ok {
				s.ContentType, s.Bytes = ct, size
			}
		}
		if s.Range != "" {
			if _, _, ok := parseStoredRange(s.Range); !ok {
				return nil, fmt.Errorf("decode manifest: segment %d: bad range %q", i, s.Range)
			}
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// trueValue is Swift's config_true_value.
func trueValue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on", "t", "y":
		return true
	}
	return false
}

// cutSwiftBytes removes a swift_bytes parameter from a content type.
func cutSwiftBytes(ct string) (string, int64, bool) {
	i := strings.LastIndex(ct, ";")
	if i < 0 {
		return ct, 0, false
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(ct[i+1:]), "swift_bytes=")
	if !ok {
		return ct, 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return ct, 0, false
	}
	return ct[:i], n, true
}
