package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// maxDepth bounds nesting of parentheses and "not", so a hostile or broken
// policy file cannot exhaust the stack; real policies nest a handful deep.
const maxDepth = 100

// Parse parses a check expression in the oslo.policy language. The empty
// string and "@" always pass; "!" never does. Unlike oslo.policy, which logs
// and fails closed, a malformed expression is an error, so that a bad
// policy.yaml is rejected when it is loaded rather than denying at run time.
func Parse(expr string) (Rule, error) {
	if expr == "" {
		return trueRule{}, nil
	}
	toks, err := tokenize(expr)
	if err != nil {
		return nil, fmt.Errorf("parse rule %q: %w", expr, err)
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("parse rule %q: no checks", expr)
	}
	p := parser{toks: toks}
	r, err := p.or()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %s", p.toks[p.pos])
	}
	if err != nil {
		return nil, fmt.Errorf("parse rule %q: %w", expr, err)
	}
	return r, nil
}

type tokKind uint8

const (
	tokCheck tokKind = iota
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
)

type token struct {
	kind  tokKind
	text  string
	check Rule
}

func (t token) String() string {
	if t.kind == tokCheck {
		return fmt.Sprintf("check %q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// tokenize splits as oslo.policy's _parse_tokenize does: on whitespace only,
// then peeling parentheses off each word's ends. Parentheses inside a word
// belong to the check ("%(project_id)s"), which is why "a)and(b" is one check.
func tokenize(expr string) ([]token, error) {
	var toks []token
	for _, word := range strings.FieldsFunc(expr, isPySpace) {
		clean := strings.TrimLeft(word, "(")
		for range len(word) - len(clean) {
			toks = append(toks, token{kind: tokLParen, text: "("})
		}
		if clean == "" {
			continue
		}
		word = clean
		clean = strings.TrimRight(word, ")")
		switch strings.ToLower(clean) {
		case "":
		case "and":
			toks = append(toks, token{kind: tokAnd, text: clean})
		case "or":
			toks = append(toks, token{kind: tokOr, text: clean})
		case "not":
			toks = append(toks, token{kind: tokNot, text: clean})
		default:
			if isQuoted(word) {
				// oslo makes this a string token that no grammar rule accepts.
				return nil, fmt.Errorf("quoted string %s is not a check", word)
			}
			c, err := parseCheck(clean)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tokCheck, text: clean, check: c})
		}
		for range len(word) - len(clean) {
			toks = append(toks, token{kind: tokRParen, text: ")"})
		}
	}
	return toks, nil
}

// isPySpace is Python's str.isspace, which the \s in oslo's tokenizer uses:
// Go's unicode.IsSpace plus the ASCII information separators.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

func isQuoted(s string) bool {
	return len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0]
}

// parser is a recursive descent over oslo's grammar, with its precedence:
// not binds tighter than and, and tighter than or.
type parser struct {
	toks  []token
	pos   int
	depth int
}

func (p *parser) peek() (tokKind, bool) {
	if p.pos >= len(p.toks) {
		return 0, false
	}
	return p.toks[p.pos].kind, true
}

func (p *parser) or() (Rule, error) {
	r, err := p.and()
	if err != nil {
		return nil, err
	}
	rs := orRule{r}
	for k, ok := p.peek(); ok && k == tokOr; k, ok = p.peek() {
		p.pos++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	if len(rs) == 1 {
		return rs[0], nil
	}
	return rs, nil
}

func (p *parser) and() (Rule, error) {
	r, err := p.unary()
	if err != nil {
		return nil, err
	}
	rs := andRule{r}
	for k, ok := p.peek(); ok && k == tokAnd; k, ok = p.peek() {
		p.pos++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	if len(rs) == 1 {
		return rs[0], nil
	}
	return rs, nil
}

func (p *parser) unary() (Rule, error) {
	if p.pos >= len(p.toks) {
		return nil, errors.New("unexpected end")
	}
	t := p.toks[p.pos]
	switch t.kind {
	case tokCheck:
		p.pos++
		return t.check, nil
	case tokNot, tokLParen:
		if p.depth++; p.depth > maxDepth {
			return nil, fmt.Errorf("nested deeper than %d", maxDepth)
		}
		defer func() { p.depth-- }()
		p.pos++
		if t.kind == tokNot {
			r, err := p.unary()
			if err != nil {
				return nil, err
			}
			return notRule{r}, nil
		}
		r, err := p.or()
		if err != nil {
			return nil, err
		}
		if k, ok := p.peek(); !ok || k != tokRParen {
			return nil, errors.New("missing )")
		}
		p.pos++
		return r, nil
	}
	return nil, fmt.Errorf("unexpected %s", t)
}
