package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// Container ACLs (X-Container-Read, X-Container-Write) are Swift's version
// 1 ACL strings: comma-separated grantees ("project:user", "project:*",
// "*:user", role names, ".rlistings") and, for reads, referrer
// designations (".r:*", ".r:.example.com", ".r:-bad.example.com").

// cleanACL validates and normalizes an ACL header as Swift's clean_acl does;
// the error text is Swift's 400 body.
func cleanACL(name, value string) (string, error) {
	name = strings.ToLower(name)
	var out []string
	for raw := range strings.SplitSeq(value, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if !strings.Contains(raw, ":") {
			out = append(out, raw)
			continue
		}
		first, second, _ := strings.Cut(raw, ":")
		first, second = strings.TrimSpace(first), strings.TrimSpace(second)
		if first == "" || !strings.HasPrefix(first, ".") {
			out = append(out, raw)
			continue
		}
		switch first {
		case ".r", ".ref", ".referer", ".referrer":
		default:
			return "", fmt.Errorf("Unknown designator %s in ACL: %s", pyRepr(first), pyRepr(raw))
		}
		if strings.Contains(name, "write") {
			return "", fmt.Errorf("Referrers not allowed in write ACL: %s", pyRepr(raw))
		}
		negate := false
		if strings.HasPrefix(second, "-") {
			negate = true
			second = strings.TrimSpace(second[1:])
		}
		if second != "" && second != "*" && strings.HasPrefix(second, "*") {
			second = strings.TrimSpace(second[1:])
		}
		if second == "" || second == "." {
			return "", fmt.Errorf("No host/domain value after referrer designation in ACL: %s", pyRepr(raw))
		}
		if negate {
			second = "-" + second
		}
		out = append(out, ".r:"+second)
	}
	return strings.Join(out, ","), nil
}

// parseACL splits a cleaned ACL into referrer designations (without ".r:")
// and grantees (percent-decoded), as Swift's parse_acl.
func parseACL(acl string) (referrers, groups []string) {
	if acl == "" {
		return nil, nil
	}
	for v := range strings.SplitSeq(acl, ",") {
		if r, ok := strings.CutPrefix(v, ".r:"); ok {
			referrers = append(referrers, r)
			continue
		}
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		groups = append(groups, v)
	}
	return referrers, groups
}

// referrerAllowed applies referrer designations in order to the host of
// the Referer header: later entries override earlier ones.
func referrerAllowed(referrer string, referrers []string) bool {
	if len(referrers) == 0 {
		return false
	}
	host := "unknown"
	if u, err := url.Parse(referrer); err == nil && u.Hostname() != "" {
		host = strings.ToLower(u.Hostname())
	}
	allow := false
	for _, m := range referrers {
		if neg, ok := strings.CutPrefix(m, "-"); ok {
			if neg == host || (strings.HasPrefix(neg, ".") && strings.HasSuffix(host, neg)) {
				allow = false
			}
			continue
		}
		if m == "*" || m == host || (strings.HasPrefix(m, ".") && strings.HasSuffix(host, m)) {
			allow = true
		}
	}
	return allow
}

// accountACL is X-Account-Access-Control (Swift's version 2 ACL, JSON):
// grantees with admin (owner rights), read-write (everything below the
// account, reads of the account) and read-only access.
type accountACL struct {
	Admin     []string `json:"admin,omitempty"`
	ReadWrite []string `json:"read-write,omitempty"`
	ReadOnly  []string `json:"read-only,omitempty"`
}

func (a *accountACL) empty() bool {
	return a == nil || len(a.Admin)+len(a.ReadWrite)+len(a.ReadOnly) == 0
}

// checkAccountACL validates a header value as tempauth does (Swift's
// reference implementation of account ACLs) and returns the reason for
// Swift's 400 body, "" when the value is good.
func checkAccountACL(data string) string {
	if data == "" {
		return ""
	}
	var raw any
	if err := json.Unmarshal([]byte(data), &raw); err != nil {
		return "Syntax error in input (" + pyRepr(data) + ")"
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return "Syntax error in input (" + pyRepr(data) + ")"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "admin" && k != "read-write" && k != "read-only" {
			return "Key " + jsonString(k) + " not recognized"
		}
	}
	for _, k := range []string{"admin", "read-write", "read-only"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		list, ok := v.([]any)
		if !ok {
			return "Value for key " + jsonString(k) + " must be a list"
		}
		for _, g := range list {
			if _, ok := g.(string); !ok {
				return "Elements of " + jsonString(k) + " list must be strings"
			}
		}
	}
	return ""
}

// parseAccountACL reads the stored ACL; nil when there is none or it is
// unreadable (an unreadable ACL grants nothing).
func parseAccountACL(data string) *accountACL {
	if data == "" {
		return nil
	}
	var a accountACL
	if err := json.Unmarshal([]byte(data), &a); err != nil || a.empty() {
		return nil
	}
	return &a
}

// formatAccountACL renders a stored ACL for the X-Account-Access-Control
// response header as Swift's format_acl(version=2): sorted keys, no
// spaces, ASCII only. "" when it grants nothing.
func formatAccountACL(data string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil || len(m) == 0 {
		return ""
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return ""
	}
	return asciiJSON(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// asciiJSON escapes non-ASCII characters as \uXXXX, as Python's json.dumps
// does by default; they only occur inside strings.
func asciiJSON(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r < 0x80:
			sb.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&sb, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
	}
	return sb.String()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return asciiJSON(b)
}

// pyRepr quotes s the way Python's repr() shows a str in Swift's messages.
func pyRepr(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
