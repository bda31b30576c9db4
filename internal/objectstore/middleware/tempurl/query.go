package tempurl

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// params are a temp URL's query parameters; a nil field was not given.
type params struct {
	sig, expires, prefix, filename, ipRange *string
	inline                                  bool
}

// parseParams reads the query as Python's parse_qs(keep_blank_values)
// does, which Swift uses: the first value of each name counts, "inline"
// without "=" is present with an empty value, and bad %-escapes are kept
// as they are rather than rejected.
func parseParams(rawQuery string) params {
	var p params
	seen := map[string]bool{}
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, v = unquotePlus(k), unquotePlus(v)
		if seen[k] {
			continue
		}
		seen[k] = true
		switch k {
		case "temp_url_sig":
			p.sig = &v
		case "temp_url_expires":
			p.expires = &v
		case "temp_url_prefix":
			p.prefix = &v
		case "filename":
			p.filename = &v
		case "temp_url_ip_range":
			p.ipRange = &v
		case "inline":
			p.inline = true
		}
	}
	return p
}

func unquotePlus(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// iso8601 is the one ISO 8601 form Swift accepts for temp_url_expires.
const iso8601 = "2006-01-02T15:04:05Z"

// ParseExpires reads temp_url_expires, Unix seconds or ISO 8601 UTC
// ("2017-12-05T21:16:03Z"), and returns the Unix time it names, or 0 when
// the value is unreadable or already past (Swift's
// normalize_temp_url_expires): both make the URL invalid.
func ParseExpires(value string, now time.Time) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil {
		t, err := time.Parse(iso8601, value)
		if err != nil {
			return 0
		}
		n = t.Unix()
	}
	// Python compares the integer with time() as a float: a URL is still
	// valid during the second it expires at.
	if float64(n) < float64(now.UnixNano())/1e9 {
		return 0
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
