package policy

import (
	"errors"
	"strings"
)

// template is a check's MATCH: text with %(key)s placeholders filled from the
// target, Python's %-formatting restricted to the one form policies use.
type template []part

type part struct {
	text  string
	isKey bool
}

// parseTemplate accepts %(key)s and %%. Any other % is an error here, where
// oslo would raise at enforcement time.
func parseTemplate(s string) (template, error) {
	var t template
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, errors.New("incomplete % format")
		}
		if s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if s[i+1] != '(' {
			return nil, errors.New("only %(key)s substitutions are supported")
		}
		// Like Python, nested parentheses belong to the key.
		depth, j := 1, i+2
		for ; j < len(s) && depth > 0; j++ {
			switch s[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth > 0 {
			return nil, errors.New("unclosed %( in format")
		}
		if j >= len(s) || s[j] != 's' {
			return nil, errors.New("only %(key)s substitutions are supported")
		}
		if lit.Len() > 0 {
			t = append(t, part{text: lit.String()})
			lit.Reset()
		}
		t = append(t, part{text: s[i+2 : j-1], isKey: true})
		i = j
	}
	if lit.Len() > 0 {
		t = append(t, part{text: lit.String()})
	}
	return t, nil
}

// expand fills the placeholders; false when a key is missing from target,
// which makes the check fail as in oslo.
func (t template) expand(target map[string]any) (string, bool) {
	if len(t) == 1 && !t[0].isKey {
		return t[0].text, true
	}
	var b strings.Builder
	for _, p := range t {
		if !p.isKey {
			b.WriteString(p.text)
			continue
		}
		v, ok := targetValue(target, p.text)
		if !ok {
			return "", false
		}
		b.WriteString(pyStr(v, 0))
	}
	return b.String(), true
}

// targetValue looks key up as a flat key first, as Keystone flattens its
// targets to "target.project.id", and then as a dotted path through nested
// maps, which is how the other services build theirs.
func targetValue(target map[string]any, key string) (any, bool) {
	if v, ok := target[key]; ok {
		return v, true
	}
	if !strings.Contains(key, ".") {
		return nil, false
	}
	var v any = target
	for seg := range strings.SplitSeq(key, ".") {
		var ok bool
		if v, ok = lookup(v, seg); !ok {
			return nil, false
		}
	}
	return v, true
}
