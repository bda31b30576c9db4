package s3

import (
	"net/netip"
	"strings"
)

// validBucketName applies S3's bucket naming rules as s3api does: strict
// (DNS-compatible: 3-63 of a-z 0-9 . -, letters or digits at both ends, no
// ".." "-." ".-") for new buckets; the legacy rules (up to 255, upper
// case and "_" too) for reaching containers made through Swift. Never an
// IP address, never "+" (so "<bucket>+segments" is no bucket).
func validBucketName(name string, strict bool) bool {
	max := 255
	if strict {
		max = 63
	}
	if len(name) < 3 || len(name) > max || !alnum(name[0]) || name[len(name)-1] == '.' {
		return false
	}
	if strict && (!alnum(name[len(name)-1]) || strings.Contains(name, "..") ||
		strings.Contains(name, ".-") || strings.Contains(name, "-.")) {
		return false
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '-':
		case !strict && ('A' <= c && c <= 'Z' || c == '_'):
		default:
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
