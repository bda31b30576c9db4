package versioning

import (
	"fmt"
	"net/http"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// VersionPrefix is the archive name prefix of an object's versions: its
// name's length in bytes as three hex digits, the name, and "/".
func VersionPrefix(object string) string {
	return fmt.Sprintf("%03x%s/", len(object), object)
}

// VersionName is the archive name of the version of object written at
// ts.
func VersionName(object string, ts swift.Timestamp) string {
	return VersionPrefix(object) + ts.Internal()
}

// sourceTimestamp is when the version in resp was written: its
// X-Timestamp, or its Last-Modified when that is missing.
func sourceTimestamp(h http.Header) (swift.Timestamp, bool) {
	if ts, err := swift.ParseTimestamp(h.Get("X-Timestamp")); err == nil {
		return ts, true
	}
	t, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil {
		return swift.Timestamp{}, false
	}
	return swift.FromTime(t.Truncate(time.Second)), true
}
