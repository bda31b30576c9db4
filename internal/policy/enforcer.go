package policy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"

	"gopkg.in/yaml.v3"
)

// Default is one rule a service registers in code. Description is for the
// sample policy files `nimbus policy` writes.
type Default struct {
	Name, Check, Description string
}

type entry struct {
	check string
	rule  Rule
}

// Enforcer holds a service's rules: the defaults in code, overridden by an
// operator's policy.yaml. It is safe for concurrent use, including reloading
// the file while requests are being checked.
type Enforcer struct {
	defaults []Default
	base     map[string]entry // parsed defaults, never modified after New

	mu    sync.RWMutex
	rules map[string]entry // replaced whole on load, never modified in place
}

// New parses the defaults; a default that does not parse is a programming
// error the service's tests should catch, so it fails here.
func New(defaults []Default) (*Enforcer, error) {
	base := make(map[string]entry, len(defaults))
	for _, d := range defaults {
		if _, dup := base[d.Name]; dup {
			return nil, fmt.Errorf("policy default %q defined twice", d.Name)
		}
		r, err := Parse(d.Check)
		if err != nil {
			return nil, fmt.Errorf("policy default %q: %w", d.Name, err)
		}
		base[d.Name] = entry{check: d.Check, rule: r}
	}
	return &Enforcer{defaults: defaults, base: base, rules: base}, nil
}

// LoadFile reads an operator's policy file (YAML, or JSON, which YAML reads
// too) and applies it as LoadBytes does. A missing file is an error: an
// operator who configured a path expects it to be used.
func (e *Enforcer) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read policy file: %w", err)
	}
	if err := e.LoadBytes(data); err != nil {
		return fmt.Errorf("load policy file %s: %w", path, err)
	}
	return nil
}

// LoadBytes applies a map of rule name to check string over the defaults.
// Each load replaces the previous one's overrides, so reloading an edited
// file drops rules removed from it. On error the rules in force are kept.
func (e *Enforcer) LoadBytes(data []byte) error {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("decode policy: %w", err)
	}
	rules := maps.Clone(e.base)
	var errs []error
	for name, v := range raw {
		// An empty value would be oslo's always-pass; make the operator
		// write "" or "@" if that is meant.
		check, ok := v.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("rule %q: want a check string, got %T", name, v))
			continue
		}
		r, err := Parse(check)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", name, err))
			continue
		}
		rules[name] = entry{check: check, rule: r}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.mu.Lock()
	e.rules = rules
	e.mu.Unlock()
	return nil
}

// Enforce reports whether creds may do the action guarded by rule name to
// target. An unknown name denies; unlike oslo it falls back to a rule named
// "default" only when one exists, so a typo in a service cannot fall through
// to a permissive default by accident of configuration.
func (e *Enforcer) Enforce(name string, target, creds map[string]any) (ok bool) {
	// Fail closed should some value still surprise the evaluator.
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return e.enforce(name, target, creds)
}

func (e *Enforcer) enforce(name string, target, creds map[string]any) bool {
	e.mu.RLock()
	rules := e.rules
	e.mu.RUnlock()
	if _, ok := rules[name]; !ok {
		name = "default"
	}
	ev := &evaluation{
		rules:  rules,
		target: target,
		creds:  creds,
		done:   map[string]bool{},
		active: map[string]bool{},
	}
	return ruleRef{name: name}.eval(ev) && !ev.cycle
}

// Rules returns the effective check string of every rule.
func (e *Enforcer) Rules() map[string]string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make(map[string]string, len(e.rules))
	for name, r := range e.rules {
		out[name] = r.check
	}
	return out
}

// Defaults returns the rules registered in code, for sample policy files.
func (e *Enforcer) Defaults() []Default {
	return append([]Default(nil), e.defaults...)
}
