package segment

import (
	"strconv"
	"strings"
)

// Span is an inclusive byte range of an object's content.
type Span struct{ First, Last int64 }

// Len is the number of bytes in the span.
func (s Span) Len() int64 { return s.Last - s.First + 1 }

// Limits on multi-range requests (swob's), against the denial of service
// RFC 7233 section 6.1 describes: beyond them the request is unsatisfiable.
const (
	maxRanges             = 50
	maxRangeOverlaps      = 2
	maxNonAscendingRanges = 8
)

// RangeSpec is one byte-range-spec of a Range header; -1 marks an absent
// bound ("-N" has no Start, "N-" no End).
type RangeSpec struct{ Start, End int64 }

// ParseRange reads a Range header as swob's Range does. A header that is
// absent or has any syntactically invalid spec is ignored (ok false), as
// RFC 7233 requires.
func ParseRange(v string) (specs []RangeSpec, ok bool) {
	v = strings.ReplaceAll(v, " ", "")
	if len(v) < 6 || !strings.EqualFold(v[:6], "bytes=") {
		return nil, false
	}
	for rng := range strings.SplitSeq(v[6:], ",") {
		startS, endS, found := strings.Cut(rng, "-")
		if !found {
			return nil, false
		}
		sp := RangeSpec{Start: -1, End: -1}
		if startS != "" {
			n, err := strconv.ParseInt(startS, 10, 64)
			if err != nil || n < 0 {
				return nil, false
			}
			sp.Start = n
		}
		if endS != "" {
			n, err := strconv.ParseUint(endS, 10, 63)
			if err != nil || !allDigits(endS) {
				return nil, false
			}
			sp.End = int64(n)
			if sp.Start >= 0 && sp.End < sp.Start {
				return nil, false
			}
		} else if sp.Start < 0 {
			return nil, false
		}
		specs = append(specs, sp)
	}
	return specs, len(specs) > 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Ranges resolves a Range header against an object of length bytes, as
// swob's ranges_for_length: ok is false when the header is to be ignored
// (absent or invalid: answer the whole object); an empty result with ok
// means unsatisfiable (416); otherwise the spans to answer with a 206.
func Ranges(header string, length int64) (spans []Span, ok bool) {
	specs, ok := ParseRange(header)
	if !ok {
		return nil, false
	}
	return Resolve(specs, length), true
}

// Resolve maps range specs onto an object of length bytes: the spans to
// answer, none when the request cannot be satisfied.
func Resolve(specs []RangeSpec, length int64) []Span {
	spans := []Span{}
	for _, sp := range specs {
		switch {
		case sp.Start < 0: // suffix: the last sp.End bytes
			if sp.End == 0 {
				continue
			}
			if sp.End > length {
				spans = append(spans, Span{0, length - 1})
			} else {
				spans = append(spans, Span{length - sp.End, length - 1})
			}
		case sp.End < 0:
			if sp.Start < length {
				spans = append(spans, Span{sp.Start, length - 1})
			}
		case sp.Start < length:
			spans = append(spans, Span{sp.Start, min(sp.End, length-1)})
		}
	}
	if len(spans) > maxRanges {
		return []Span{}
	}
	overlaps := 0
	for i := range spans {
		for j := i + 1; j < len(spans); j++ {
			if overlap(spans[i], spans[j]) {
				overlaps++
				if overlaps > maxRangeOverlaps {
					return []Span{}
				}
			}
		}
	}
	ascending := true
	for i := 1; i < len(spans); i++ {
		if spans[i-1].First > spans[i].First || spans[i-1].First == spans[i].First && spans[i-1].Last > spans[i].Last {
			ascending = false
			break
		}
	}
	if !ascending && len(spans) >= maxNonAscendingRanges {
		return []Span{}
	}
	return spans
}

// overlap is swob's test, on half-open ranges [First, Last+1).
func overlap(a, b Span) bool {
	s1, e1, s2, e2 := a.First, a.Last+1, b.First, b.Last+1
	return (s1 < s2 && s2 < e1) || (s1 < e2 && e2 < e1) || (s2 < s1 && s1 < e2) || (s2 < e1 && e1 < e2)
}

// ContentRange is the Content-Range value of a span of an object of
// length bytes.
func ContentRange(s Span, length int64) string {
	return "bytes " + strconv.FormatInt(s.First, 10) + "-" + strconv.FormatInt(s.Last, 10) + "/" + strconv.FormatInt(length, 10)
}
