package identity

import (
	"encoding/json"

	"fmt"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"strings"
)

// where builds a conjunction of filters with numbered placeholders.
type where struct {
	conds []string
	args  []any
}

func newWhere() *where { return &where{} }

func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

// eq adds column = value when value is not empty.
func (w *where) eq(column, value string) {
	if value != "" {
		w.add(column+" = ?", value)
	}
}

func (w *where) eqBool(column string, value *bool) {
	if value != nil {
		w.add(column+" = ?", *value)
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func decodeExtra(s string) map[string]any {
	if s == "" || s == "{}" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil
	}
	return m
}

func encodeExtra(m map[string]any) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// mergeExtra applies an update's extra attributes; a null value removes one.
func mergeExtra(dst *map[string]any, patch map[string]any) {
	if len(patch) == 0 {
		return
	}
	if *dst == nil {
		*dst = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(*dst, k)
			continue
		}
		(*dst)[k] = v
	}
}

func faultKindNotFound(err error) bool { return fault.Is(err, fault.NotFound) }
