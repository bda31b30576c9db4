package objserver

import (
	"net/http"
	"strconv"
	"strings"
)

// Conditional requests and ranges follow swob, Swift's request library,
// rule for rule, since the proxy and clients expect its answers.

// match is a parsed If-Match or If-None-Match list.
type match struct {
	star bool
	tags []string
}

func parseMatch(v string) match {
	var m match
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		t = normalizeEtag(t)
		if t == "*" {
			m.star = true
		}
		m.tags = append(m.tags, t)
	}
	return m
}

func (m match) matches(etag string) bool {
	if m.star {
		return true
	}
	for _, t := range m.tags {
		if t == etag {
			return true
		}
	}
	return false
}

func normalizeEtag(t string) string {
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		return t[1 : len(t)-1]
	}
	return t
}

// conditional is the status a conditional GET or HEAD answers instead of
// the object (304 or 412), 0 to answer normally. The order of the checks
// is swob's.
func conditional(r *http.Request, etag string, lastMod int64) int {
	if v, ok := r.Header["If-None-Match"]; ok && parseMatch(v[0]).matches(etag) {
		return http.StatusNotModified
	}
	if v, ok := r.Header["If-Match"]; ok && !parseMatch(v[0]).matches(etag) {
		return http.StatusPreconditionFailed
	}
	if v := r.Header.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && lastMod <= t.Unix() {
			return http.StatusNotModified
		}
	}
	if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && lastMod > t.Unix() {
			return http.StatusPreconditionFailed
		}
	}
	return 0
}

// byteRange is [start, end) of the data.
type byteRange struct{ start, end int64 }

func contentRange(rg byteRange, size int64) string {
	return "bytes " + strconv.FormatInt(rg.start, 10) + "-" + strconv.FormatInt(rg.end-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// Limits on multi-range requests (swob's, after RFC 7233's advice on
// ranges as a denial-of-service tool).
const (
	maxRanges          = 50
	maxRangeOverlaps   = 2
	maxNonAscendingRng = 8
)

// requestRanges interprets a Range header for an object of size bytes.
// use is false when the header is to be ignored (absent, syntactically
// invalid, or an empty object); use with no ranges means 416.
func requestRanges(v string, size int64) (ranges []byteRange, use bool) {
	if v == "" {
		return nil, false
	}
	specs, ok := parseRange(v)
	if !ok || len(specs) == 0 {
		return nil, false
	}
	for _, sp := range specs {
		start, end := sp[0], sp[1]
		switch {
		case start < 0: // suffix range "-N"
			if end == 0 {
				continue
			}
			if end > size {
				ranges = append(ranges, byteRange{0, size})
			} else {
				ranges = append(ranges, byteRange{size - end, size})
			}
		case end < 0: // "N-"
			if start < size {
				ranges = append(ranges, byteRange{start, size})
			}
		case start < size:
			ranges = append(ranges, byteRange{start, min(end+1, size)})
		}
	}
	if len(ranges) > maxRanges {
		return nil, true
	}
	overlaps := 0
	for i := range ranges {
		for j := i + 1; j < len(ranges); j++ {
			a, b := ranges[i], ranges[j]
			if (a.start < b.start && b.start < a.end) || (a.start < b.end && b.end < a.end) ||
				(b.start < a.start && a.start < b.end) || (b.start < a.end && a.end < b.end) {
				overlaps++
				if overlaps > maxRangeOverlaps {
					return nil, true
				}
			}
		}
	}
	ascending := true
	for i := 1; i < len(ranges); i++ {
		a, b := ranges[i-1], ranges[i]
		if a.start > b.start || (a.start == b.start && a.end > b.end) {
			ascending = false
			break
		}
	}
	if !ascending && len(ranges) >= maxNonAscendingRng {
		return nil, true
	}
	if len(ranges) > 0 && size == 0 {
		// A suffix range of an empty object: the whole (empty) object,
		// 200, as swob, Apache and nginx answer.
		return nil, false
	}
	return ranges, true
}

// parseRange splits "bytes=a-b,c-,-d" into pairs, -1 for a missing end
// or start. ok is false for a header swob finds invalid, which is then
// ignored.
func parseRange(v string) (specs [][2]int64, ok bool) {
	v = strings.ReplaceAll(v, " ", "")
	if len(v) < 6 || !strings.EqualFold(v[:6], "bytes=") {
		return nil, false
	}
	for _, part := range strings.Split(v[6:], ",") {
		startS, endS, found := strings.Cut(part, "-")
		if !found {
			return nil, false
		}
		start, end := int64(-1), int64(-1)
		if startS != "" {
			n, err := strconv.ParseInt(startS, 10, 64)
			if err != nil || n < 0 {
				return nil, false
			}
			start = n
		}
		if endS != "" {
			for _, c := range endS {
				if c < '0' || c > '9' {
					return nil, false
				}
			}
			n, err := strconv.ParseInt(endS, 10, 64)
			if err != nil || (start >= 0 && n < start) {
				return nil, false
			}
			end = n
		} else if start < 0 {
			return nil, false
		}
		specs = append(specs, [2]int64{start, end})
	}
	return specs, true
}
