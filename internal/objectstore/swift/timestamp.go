package swift

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Timestamp is Swift's clock value: seconds with 10 µs resolution, plus an
// offset that orders internal writes sharing one client time (e.g. a
// tombstone written at an object's X-Delete-At). Newer always wins.
type Timestamp struct {
	Ticks  int64 // units of 10 µs since the Unix epoch
	Offset int64
}

// Now is the current time as a Timestamp.
func Now() Timestamp { return FromTime(time.Now()) }

// FromTime rounds t to Swift's resolution.
func FromTime(t time.Time) Timestamp { return Timestamp{Ticks: t.UnixMicro() / 10} }

// Time is the Timestamp as a time.Time (the offset is dropped).
func (t Timestamp) Time() time.Time { return time.UnixMicro(t.Ticks * 10) }

// IsZero reports whether t was never set.
func (t Timestamp) IsZero() bool { return t.Ticks == 0 && t.Offset == 0 }

// Normal is the public form, "1700000000.12345", used in X-Timestamp
// responses and listings.
func (t Timestamp) Normal() string {
	return fmt.Sprintf("%010d.%05d", t.Ticks/100000, t.Ticks%100000)
}

// Internal is the form stored and sent between servers: Normal plus
// "_<16 hex digits>" when there is an offset. Its byte order is its time
// order, so file names sort by it.
func (t Timestamp) Internal() string {
	if t.Offset == 0 {
		return t.Normal()
	}
	return fmt.Sprintf("%s_%016x", t.Normal(), t.Offset)
}

func (t Timestamp) String() string { return t.Internal() }

// HTTPDate is the Last-Modified form, rounded up to the second as Swift
// does so that If-Modified-Since with the same value matches.
func (t Timestamp) HTTPDate() string {
	secs := t.Ticks / 100000
	if t.Ticks%100000 != 0 {
		secs++
	}
	return time.Unix(secs, 0).UTC().Format(http.TimeFormat)
}

// Compare orders timestamps: -1, 0 or +1.
func (t Timestamp) Compare(u Timestamp) int {
	switch {
	case t.Ticks < u.Ticks:
		return -1
	case t.Ticks > u.Ticks:
		return 1
	case t.Offset < u.Offset:
		return -1
	case t.Offset > u.Offset:
		return 1
	}
	return 0
}

// After reports whether t is newer than u.
func (t Timestamp) After(u Timestamp) bool { return t.Compare(u) > 0 }

// ParseTimestamp reads the Normal or Internal form, or any decimal seconds
// value a client may send ("1700000000", "1700000000.1").
func ParseTimestamp(s string) (Timestamp, error) {
	var ts Timestamp
	num, off, hasOff := strings.Cut(s, "_")
	if hasOff {
		o, err := strconv.ParseInt(off, 16, 64)
		if err != nil || o < 0 || len(off) == 0 {
			return ts, fmt.Errorf("invalid timestamp %q", s)
		}
		ts.Offset = o
	}
	whole, frac, _ := strings.Cut(num, ".")
	secs, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || secs < 0 || secs >= 1e10 {
		return ts, fmt.Errorf("invalid timestamp %q", s)
	}
	var f int64
	if frac != "" {
		if len(frac) > 5 {
			frac = frac[:5] // Swift rounds; truncation keeps order and is enough here
		}
		for len(frac) < 5 {
			frac += "0"
		}
		f, err = strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 {
			return ts, fmt.Errorf("invalid timestamp %q", s)
		}
	}
	ts.Ticks = secs*100000 + f
	return ts, nil
}
