// Package policy implements the oslo.policy rule language, so that operators
// can carry their policy.yaml files over from OpenStack, and an Enforcer that
// holds each service's defaults and an operator's overrides.
//
// Evaluation always fails closed: a missing key, an unknown rule, a reference
// cycle or an unexpected value denies rather than allows.
package policy

import "strings"

// Rule is a parsed check expression. Its String form is oslo.policy's: it
// parses back to the same Rule.
type Rule interface {
	String() string
	eval(ev *evaluation) bool
}

type (
	trueRule  struct{}
	falseRule struct{}
	notRule   struct{ r Rule }
	andRule   []Rule
	orRule    []Rule
)

func (trueRule) String() string  { return "@" }
func (falseRule) String() string { return "!" }
func (n notRule) String() string { return "not " + n.r.String() }
func (a andRule) String() string { return join(a, " and ") }
func (o orRule) String() string  { return join(o, " or ") }

func (trueRule) eval(*evaluation) bool     { return true }
func (falseRule) eval(*evaluation) bool    { return false }
func (n notRule) eval(ev *evaluation) bool { return !n.r.eval(ev) }

func (a andRule) eval(ev *evaluation) bool {
	for _, r := range a {
		if !r.eval(ev) {
			return false
		}
	}
	return true
}

func (o orRule) eval(ev *evaluation) bool {
	for _, r := range o {
		if r.eval(ev) {
			return true
		}
	}
	return false
}

// join brackets every and/or group, as oslo.policy's str() does, so the text
// never depends on precedence to parse back the same.
func join(rs []Rule, op string) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return "(" + strings.Join(parts, op) + ")"
}

// evaluation is the state of one Enforce call. Rule results are memoised so a
// policy that references the same rule many times costs one evaluation each,
// and rules still being evaluated mark a reference cycle.
type evaluation struct {
	rules  map[string]entry
	target map[string]any
	creds  map[string]any
	done   map[string]bool
	active map[string]bool
	cycle  bool // once set, the whole call denies
}

// ruleRef is rule:NAME.
type ruleRef struct{ name string }

func (r ruleRef) String() string { return "rule:" + r.name }

func (r ruleRef) eval(ev *evaluation) bool {
	if ev.cycle {
		return false
	}
	if v, ok := ev.done[r.name]; ok {
		return v
	}
	if ev.active[r.name] {
		// Returning false here is not enough: under a "not" it would allow.
		ev.cycle = true
		return false
	}
	e, ok := ev.rules[r.name]
	if !ok {
		ev.done[r.name] = false
		return false
	}
	ev.active[r.name] = true
	v := e.rule.eval(ev)
	delete(ev.active, r.name)
	if ev.cycle {
		return false
	}
	ev.done[r.name] = v
	return v
}
