package compute

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Version is a compute API microversion, Major.Minor. The zero Version
// is the legacy v2.0 API, which has no microversions at all.
type Version struct{ Major, Minor int }

// The range of microversions this API serves. MaxVersion is the highest
// for which every change the history lists up to it is implemented by the
// resources that exist; it moves up as resources land.
var (
	MinVersion = Version{2, 1}
	MaxVersion = Version{2, 96}
)

// Headers a client names a compute microversion in (the second one is the
// header Nova used before 2.27, still honoured) and answers carry.
const (
	VersionHeader       = "OpenStack-API-Version"
	LegacyVersionHeader = "X-OpenStack-Nova-API-Version"
)

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Legacy reports whether v is the v2.0 compatibility API.
func (v Version) Legacy() bool { return v == Version{} }

// Less orders versions.
func (v Version) Less(o Version) bool {
	return v.Major < o.Major || (v.Major == o.Major && v.Minor < o.Minor)
}

// AtLeast reports whether v is 2.minor or later, as Nova's is_supported:
// the legacy v2.0 API supports no microversion.
func (v Version) AtLeast(minor int) bool {
	if v.Legacy() {
		return false
	}
	return !v.Less(Version{2, minor})
}

var versionPattern = regexp.MustCompile(`^([1-9]\d*)\.([1-9]\d*|0)$`)

// ParseVersion reads "X.Y" as Nova does: no leading zeros, no spaces.
func ParseVersion(s string) (Version, error) {
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fault.BadRequestf("API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", s)
	}
	a, err1 := strconv.Atoi(m[1])
	b, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return Version{}, fault.BadRequestf("API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", s)
	}
	return Version{a, b}, nil
}

// Negotiator picks the microversion of a request from its headers, as
// microversion_parse and Nova's wsgi layer do. It is a value so that
// tests and future split services can serve other ranges.
type Negotiator struct {
	Service  string // service type named in OpenStack-API-Version, "compute"
	Min, Max Version
	Legacy   []string // older headers carrying the bare version
}

// DefaultNegotiator serves MinVersion..MaxVersion of the compute API.
var DefaultNegotiator = Negotiator{Service: "compute", Min: MinVersion, Max: MaxVersion,
	Legacy: []string{LegacyVersionHeader}}

// Requested returns the raw version a request asks for, "" for none:
// OpenStack-API-Version naming the service first, then the legacy headers.
func (n Negotiator) Requested(h http.Header) string {
	for _, line := range h.Values(VersionHeader) {
		for _, part := range strings.Split(line, ",") {
			svc, val, ok := strings.Cut(strings.TrimSpace(part), " ")
			if ok && strings.EqualFold(svc, n.Service) {
				if v := strings.TrimSpace(val); v != "" {
					return v
				}
			}
		}
	}
	for _, name := range n.Legacy {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			return v
		}
	}
	return ""
}

// Negotiate returns the version to serve: the minimum when none is asked
// for, the maximum for "latest". A malformed version is a BadRequest and
// one outside the range an *UnacceptableError (406).
func (n Negotiator) Negotiate(h http.Header) (Version, error) {
	raw := n.Requested(h)
	switch raw {
	case "":
		return n.Min, nil
	case "latest":
		return n.Max, nil
	}
	v, err := ParseVersion(raw)
	if err != nil {
		return Version{}, err
	}
	if v.Less(n.Min) || n.Max.Less(v) {
		return v, &UnacceptableError{Requested: v, Min: n.Min, Max: n.Max}
	}
	return v, nil
}

// UnacceptableError is a well-formed version outside the served range,
// which Nova answers with 406.
type UnacceptableError struct{ Requested, Min, Max Version }

func (e *UnacceptableError) Error() string {
	return fmt.Sprintf("Version %s is not supported by the API. Minimum is %s and maximum is %s.", e.Requested, e.Min, e.Max)
}

// SetHeaders writes the negotiated version on a response, as Nova does on
// every answer of a versioned request, errors included.
func (n Negotiator) SetHeaders(h http.Header, v Version) {
	if v.Legacy() {
		return
	}
	h.Set(VersionHeader, n.Service+" "+v.String())
	h.Set(LegacyVersionHeader, v.String())
	h.Add("Vary", VersionHeader)
	h.Add("Vary", LegacyVersionHeader)
}

type versionKey struct{}

// WithVersion returns a context carrying the request's microversion.
func WithVersion(ctx context.Context, v Version) context.Context {
	return context.WithValue(ctx, versionKey{}, v)
}

// VersionFrom returns the microversion of the request ctx belongs to;
// MinVersion when none was negotiated.
func VersionFrom(ctx context.Context) Version {
	if v, ok := ctx.Value(versionKey{}).(Version); ok {
		return v
	}
	return MinVersion
}

// mv is the microversion of r.
func mv(r *http.Request) Version { return VersionFrom(r.Context()) }
