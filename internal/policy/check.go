package policy

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// parseCheck parses one KIND:MATCH word. KIND is split at the first colon,
// so "role:compute:admin" checks for the role "compute:admin".
func parseCheck(s string) (Rule, error) {
	switch s {
	case "@":
		return trueRule{}, nil
	case "!":
		return falseRule{}, nil
	}
	kind, match, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("check %q has no kind: want KIND:MATCH", s)
	}
	switch kind {
	case "":
		return nil, fmt.Errorf("check %q has an empty kind", s)
	case "http", "https":
		// oslo would POST the target and creds to a remote URL; we never do.
		return nil, fmt.Errorf("check %q: %s checks are not supported", s, kind)
	case "rule":
		if match == "" {
			return nil, fmt.Errorf("check %q names no rule", s)
		}
		return ruleRef{name: match}, nil
	}
	tmpl, err := parseTemplate(unquote(match))
	if err != nil {
		return nil, fmt.Errorf("check %q: %w", s, err)
	}
	if kind == "role" {
		if len(tmpl) == 0 {
			return nil, fmt.Errorf("check %q names no role", s)
		}
		return roleCheck{raw: s, match: tmpl}, nil
	}
	lit, isLit, err := literal(kind)
	if err != nil {
		return nil, fmt.Errorf("check %q: %w", s, err)
	}
	c := genericCheck{raw: s, match: tmpl}
	if isLit {
		c.literal = &lit
	} else {
		c.path = strings.Split(kind, ".")
	}
	return c, nil
}

// unquote drops the quotes around a quoted MATCH. oslo compares them as part
// of the text, so that "name:'x'" could never match; we read it as the
// literal the writer meant.
func unquote(s string) string {
	if isQuoted(s) {
		return s[1 : len(s)-1]
	}
	return s
}

// roleCheck is role:NAME: true when creds["roles"] holds NAME, ignoring case.
type roleCheck struct {
	raw   string
	match template
}

func (c roleCheck) String() string { return c.raw }

func (c roleCheck) eval(ev *evaluation) bool {
	want, ok := c.match.expand(ev.target)
	if !ok {
		return false
	}
	want = strings.ToLower(want)
	roles, _ := elems(ev.creds["roles"])
	for _, r := range roles {
		if s, ok := r.(string); ok && strings.ToLower(s) == want {
			return true
		}
	}
	return false
}

// genericCheck is KIND:MATCH for any other KIND. A KIND that is a Python
// literal ('member', True, None, 1) is compared with MATCH itself, which is
// how rules test target values ("None:%(target.role.domain_id)s"); any other
// KIND is a dotted path into the creds.
type genericCheck struct {
	raw     string
	literal *string
	path    []string
	match   template
}

func (c genericCheck) String() string { return c.raw }

func (c genericCheck) eval(ev *evaluation) bool {
	want, ok := c.match.expand(ev.target)
	if !ok {
		return false
	}
	if c.literal != nil {
		return *c.literal == want
	}
	return find(ev.creds, c.path, want, 0)
}

// find walks path through v as oslo's GenericCheck._find_in_dict does: a
// list on the way, or at the end, matches when any element does.
func find(v any, path []string, want string, depth int) bool {
	if depth > maxDepth {
		return false
	}
	if len(path) == 0 {
		return pyStr(v, 0) == want
	}
	next, ok := lookup(v, path[0])
	if !ok {
		return false
	}
	if list, ok := elems(next); ok {
		for _, el := range list {
			if find(el, path[1:], want, depth+1) {
				return true
			}
		}
		return false
	}
	return find(next, path[1:], want, depth+1)
}

// lookup indexes the map shapes creds and targets arrive in.
func lookup(v any, key string) (any, bool) {
	switch m := v.(type) {
	case map[string]any:
		x, ok := m[key]
		return x, ok
	case map[string]string:
		x, ok := m[key]
		return x, ok
	}
	return nil, false
}

// elems returns the elements of the list shapes creds and targets hold.
func elems(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(l))
		for i, m := range l {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

// pyStr is Python's str() of a value, since oslo compares string forms: true
// is "True" and nil is "None". Integral floats print as integers because JSON
// decoding in Go turns every number into a float64, where Python keeps ints.
func pyStr(v any, depth int) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e21 {
			return strconv.FormatFloat(x, 'f', 0, 64)
		}
		return pyFloat(x)
	case float32:
		return pyStr(float64(x), depth)
	case fmt.Stringer:
		return x.String()
	}
	if list, ok := elems(v); ok {
		if depth > 8 {
			return "[...]"
		}
		parts := make([]string, len(list))
		for i, el := range list {
			if s, ok := el.(string); ok {
				parts[i] = "'" + s + "'"
			} else {
				parts[i] = pyStr(el, depth+1)
			}
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// pyFloat is Python's repr of a float: shortest digits, ".0" on whole
// numbers, exponent form outside [1e-4, 1e16).
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// literal is the subset of Python's ast.literal_eval that oslo applies to a
// check's KIND and that policies use: quoted strings, True, False, None and
// numbers. It returns the literal's str() form.
func literal(kind string) (string, bool, error) {
	switch kind {
	case "True", "False", "None":
		return kind, true, nil
	}
	if q := kind[0]; q == '\'' || q == '"' {
		inner := kind[1:]
		if len(kind) < 2 || kind[len(kind)-1] != q || strings.ContainsAny(inner[:len(inner)-1], string(q)+`\`) {
			return "", false, errors.New("unterminated or escaped string literal")
		}
		return inner[:len(inner)-1], true, nil
	}
	if isNumber(kind, false) {
		if d := strings.TrimLeft(kind, "+-"); len(d) > 1 && d[0] == '0' && strings.Trim(d, "0") != "" {
			return "", false, errors.New("integer literal with leading zeros")
		}
		n, ok := new(big.Int).SetString(kind, 10)
		if !ok {
			return "", false, errors.New("bad integer literal")
		}
		return n.String(), true, nil
	}
	if isNumber(kind, true) {
		f, err := strconv.ParseFloat(kind, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return "", false, errors.New("bad float literal")
		}
		return pyFloat(f), true, nil
	}
	return "", false, nil
}

// isNumber matches Python's decimal integer literals, or with float also its
// float literals: [+-]digits[.digits][e[+-]digits], digits on at least one
// side of the point.
func isNumber(s string, float bool) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	whole, frac, hasPoint := strings.Cut(mant, ".")
	if !float {
		return !hasExp && !hasPoint && digits(whole)
	}
	if hasExp {
		if exp != "" && (exp[0] == '+' || exp[0] == '-') {
			exp = exp[1:]
		}
		if !digits(exp) {
			return false
		}
	}
	if whole == "" && frac == "" {
		return false
	}
	return (whole == "" || digits(whole)) && (!hasPoint || frac == "" || digits(frac))
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
