package slo

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// put stores a manifest: checks the body, HEADs every object segment as
// the caller (through this middleware, so a nested static large object
// shows its whole size), and PUTs the manifest in its stored form with
// the large object's etag and size as sysmeta.
func (m *middleware) put(w http.ResponseWriter, r *http.Request, p swift.Path) {
	if r.Header.Get("X-Copy-From") != "" {
		swift.WriteError(w, r, http.StatusMethodNotAllowed, "Multipart Manifest PUTs cannot be COPY requests")
		return
	}
	max := m.o.MaxManifestSize
	tooBig := fmt.Sprintf("Manifest File > %d bytes", max)
	if r.ContentLength > int64(max) {
		swift.WriteError(w, r, http.StatusRequestEntityTooLarge, tooBig)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		swift.WriteStatus(w, r, 499)
		return
	}
	if len(body) > max {
		swift.WriteError(w, r, http.StatusRequestEntityTooLarge, tooBig)
		return
	}
	input, problems := parseInput(body, p.Account, "/"+p.Account+"/"+p.Container+"/"+p.Object)
	if len(problems) > 0 {
		writeText(w, r, http.StatusBadRequest, "text/plain", strings.Join(problems, "\n")+"\n")
		return
	}
	objects := 0
	for _, s := range input {
		if !s.IsData {
			objects++
		}
	}
	if objects > m.o.MaxManifestSegments {
		swift.WriteError(w, r, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("Number of object-backed segments must be <= %d", m.o.MaxManifestSegments))
		return
	}
	format, ok := bulk.BestMatch(r.Header.Get("Accept"), bulk.Formats)
	if !ok || format == "" {
		format = "text/plain"
	}
	var progress *bulk.Progress
	if trueValue(r.URL.Query().Get("heartbeat")) {
		progress = bulk.StartProgress(w, format, http.StatusAccepted, m.o.YieldFrequency)
		progress.Begin()
	}

	heads := m.headSegments(r, p, input)
	stored, total, failures := checkSegments(input, heads)
	if len(failures) > 0 {
		if progress != nil {
			progress.Finish(bulk.Body(format, []bulk.Field{
				{Key: "Response Status", Value: bulk.Status(http.StatusBadRequest)},
				{Key: "Response Body", Value: reason(http.StatusBadRequest)},
			}, failures, "upload"))
			return
		}
		writeText(w, r, http.StatusBadRequest, format, string(bulk.Body(format, nil, failures, "upload")))
		return
	}
	etag := sloEtag(stored)
	if ce := segment.NormalizeEtag(r.Header.Get("Etag")); ce != "" && ce != etag {
		if progress != nil {
			progress.Finish(bulk.Body(format, []bulk.Field{
				{Key: "Response Status", Value: bulk.Status(http.StatusUnprocessableEntity)},
				{Key: "Response Body", Value: reason(http.StatusUnprocessableEntity)},
			}, nil, "upload"))
			return
		}
		swift.WriteStatus(w, r, http.StatusUnprocessableEntity)
		return
	}

	res := segment.Call(m.next, manifestPut(r, p, stored, etag, total), 64<<10)
	success := res.Status/100 == 2
	if progress != nil {
		fields := []bulk.Field{{Key: "Response Status", Value: bulk.Status(res.Status)}}
		if success {
			fields = append(fields, bulk.Field{Key: "Etag", Value: `"` + etag + `"`}, bulk.Field{Key: "Last Modified", Value: res.Header.Get("Last-Modified")})
		}
		fields = append(fields, bulk.Field{Key: "Response Body", Value: string(res.Body)})
		progress.Finish(bulk.Body(format, fields, nil, "upload"))
		return
	}
	h := w.Header()
	for k, v := range res.Header {
		h[k] = v
	}
	if success {
		h.Set("Etag", `"`+etag+`"`)
	}
	h.Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.WriteHeader(res.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(res.Body)
	}
}

// reason is the text Swift's heartbeat answers show for an error without
// a body: the status title and its explanation.
func reason(status int) string {
	t := swift.Title(status)
	switch status {
	case http.StatusBadRequest:
		return t + "\nThe server could not comply with the request since it is either malformed or otherwise incorrect."
	case http.StatusUnprocessableEntity:
		return t + "\nUnable to process the contained instructions"
	}
	return t
}

func writeText(w http.ResponseWriter, r *http.Request, status int, ctype, body string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// headResult is what a segment's HEAD answered.
type headResult struct {
	status int
	header http.Header
}

// headSegments HEADs each distinct segment path once, Concurrency at a
// time, as the caller.
func (m *middleware) headSegments(r *http.Request, p swift.Path, input []inputSegment) map[string]headResult {
	var paths []string
	seen := map[string]bool{}
	for _, s := range input {
		if !s.IsData && !seen[s.Path] {
			seen[s.Path] = true
			paths = append(paths, s.Path)
		}
	}
	out := make(map[string]headResult, len(paths))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, m.o.Concurrency)
	for _, name := range paths {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sub := segment.NewRequest(r, "SLO", http.MethodHead, segmentPath(p, name), "", nil)
			res := segment.Call(m, sub, 0)
			mu.Lock()
			out[name] = headResult{res.Status, res.Header}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// checkSegments checks the input against what the HEADs found, as Swift's
// validate_seg_dict, and builds the stored manifest and its size. The
// failures name each bad segment with a status or a reason.
func checkSegments(input []inputSegment, heads map[string]headResult) ([]storedSegment, int64, []bulk.Failure) {
	var stored []storedSegment
	var failures []bulk.Failure
	var total int64
	for i, in := range input {
		if in.IsData {
			stored = append(stored, storedSegment{IsData: true, Data: in.Data})
			total += int64(len(in.Data))
			continue
		}
		name := bulk.Quote(in.Path)
		hr := heads[in.Path]
		if hr.status/100 != 2 {
			failures = append(failures, bulk.Failure{Name: name, Status: bulk.Status(hr.status)})
			continue
		}
		size, err := strconv.ParseInt(hr.header.Get("Content-Length"), 10, 64)
		if err != nil {
			size = 0
		}
		segLen, rng := size, ""
		if in.Range != nil {
			spans := segment.Resolve([]segment.RangeSpec{*in.Range}, size)
			switch {
			case len(spans) == 0:
				failures = append(failures, bulk.Failure{Name: name, Status: "Unsatisfiable Range"})
			case spans[0].First == 0 && spans[0].Last == size-1:
				// The range is the whole object: not a range at all.
			default:
				rng = strconv.FormatInt(spans[0].First, 10) + "-" + strconv.FormatInt(spans[0].Last, 10)
				segLen = spans[0].Len()
			}
		}
		if segLen < 1 && i != len(input)-1 {
			failures = append(failures, bulk.Failure{Name: name, Status: "Too small; each segment must be at least 1 byte."})
		}
		if in.Size >= 0 && in.Size != size {
			failures = append(failures, bulk.Failure{Name: name, Status: "Size Mismatch"})
		}
		etag := segment.NormalizeEtag(hr.header.Get("Etag"))
		if in.Etag != nil && *in.Etag != etag {
			failures = append(failures, bulk.Failure{Name: name, Status: "Etag Mismatch"})
		}
		lm, err := http.ParseTime(hr.header.Get("Last-Modified"))
		if err != nil {
			lm = time.Now()
		}
		ctype, _, _ := strings.Cut(hr.header.Get("Content-Type"), ";")
		stored = append(stored, storedSegment{
			Name:         "/" + strings.TrimLeft(in.Path, "/"),
			Bytes:        size,
			Hash:         etag,
			ContentType:  ctype,
			LastModified: lm.UTC().Format("2006-01-02T15:04:05.000000"),
			Range:        rng,
			SubSLO:       isSLO(hr.header),
		})
		total += segLen
	}
	return stored, total, failures
}

// manifestPut is the PUT of the stored manifest down the pipeline: the
// client's request with the manifest as body and the large object's etag
// and size as sysmeta. The container listing is told, through the object
// server's update overrides, the total size and both etags ("<manifest
// md5>; slo_etag=<etag>"); the overrides are kept as sysmeta so that
// later container updates (a POST changing the content type) say the
// same. (Swift puts the size in the content type's swift_bytes instead,
// which the core refuses from clients and has no way to allow here.)
func manifestPut(r *http.Request, p swift.Path, stored []storedSegment, etag string, total int64) *http.Request {
	body := encodeManifest(stored)
	sum := md5.Sum(body)
	jsonMD5 := hex.EncodeToString(sum[:])
	sub := r.Clone(r.Context())
	sub.Body = io.NopCloser(bytes.NewReader(body))
	sub.ContentLength = int64(len(body))
	sub.TransferEncoding = nil
	h := sub.Header
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set(sysmetaEtag, etag)
	h.Set(sysmetaSize, strconv.FormatInt(total, 10))
	h.Set(headerSLO, "True")
	h.Set("Etag", jsonMD5)

	// A middleware before this one may have set the base value.
	val, params, _ := strings.Cut(h.Get(overrideEtag), ";")
	if val == "" {
		val = jsonMD5
	}
	if params != "" {
		params = ";" + params
	}
	override := val + params + "; slo_etag=" + etag
	size := strconv.FormatInt(total, 10)
	h.Set(overrideEtag, override)
	h.Set(backendEtag, override)
	h.Set(overrideSize, size)
	h.Set(backendSize, size)
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", guessType(p.Object))
	}
	return sub
}

// guessType is the content type of a name by its extension, without
// parameters (as Python's mimetypes), else application/octet-stream.
func guessType(name string) string {
	t := mime.TypeByExtension(path.Ext(name))
	if t == "" {
		return "application/octet-stream"
	}
	t, _, _ = strings.Cut(t, ";")
	return t
}
