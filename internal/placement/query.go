package placement

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// badQuery is placement's 400 for a query string that fails its schema.
func badQuery(format string, args ...any) *fault.Error {
	return fault.BadRequestf("Invalid query string parameters: "+format, args...)
}

// checkQueryKeys refuses keys the microversion does not know, as the
// JSON schemas with additionalProperties: false do.
func checkQueryKeys(q url.Values, allowed func(key string) bool) error {
	var extra []string
	for k := range q {
		if !allowed(k) {
			extra = append(extra, "'"+k+"'")
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	verb := "was"
	if len(extra) > 1 {
		verb = "were"
	}
	return badQuery("Additional properties are not allowed (%s %s unexpected)", strings.Join(extra, ", "), verb)
}

// parseResources reads "VCPU:2,MEMORY_MB:1024".
func parseResources(val string) (map[string]int64, error) {
	if strings.TrimSpace(val) == "" {
		return nil, fault.BadRequestf("Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: empty string.")
	}
	out := map[string]int64{}
	for _, part := range strings.Split(val, ",") {
		name, amount, ok := strings.Cut(part, ":")
		if !ok || strings.Contains(amount, ":") {
			return nil, fault.BadRequestf("Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: %s.", part)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(amount), 10, 64)
		if err != nil {
			return nil, fault.BadRequestf("Requested resource %s expected positive integer amount. Got: %s.", name, amount)
		}
		if n < 1 {
			return nil, fault.BadRequestf("Requested resource %s requires amount >= 1. Got: %d.", name, n)
		}
		out[name] = n
	}
	return out, nil
}

// traitQuery is a parsed required= value set: AND of ORs, and forbidden.
type traitQuery struct {
	required  [][]string
	forbidden []string
}

// parseRequired reads the values of required (or requiredN): from 1.22
// "!T" forbids a trait, from 1.39 "in:T1,T2" needs any of them and the
// parameter may repeat (before, the last one counts).
func parseRequired(values []string, v version) (traitQuery, error) {
	var tq traitQuery
	allowForbidden, allowAny := v.atLeast(22), v.atLeast(39)
	if !allowAny && len(values) > 1 {
		values = values[len(values)-1:]
	}
	seenForbidden := map[string]bool{}
	for _, val := range values {
		if strings.HasPrefix(val, "in:") {
			if !allowAny {
				return tq, badQuery("The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since microversion 1.39. Got: %s", val)
			}
			var any []string
			for _, t := range strings.Split(val[3:], ",") {
				t = strings.TrimSpace(t)
				if t == "" {
					return tq, badQuery("Expected 'required' parameter value of the form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: %s", val)
				}
				if strings.HasPrefix(t, "!") {
					return tq, badQuery("The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not support forbidden traits. Got: %s", val)
				}
				if !contains(any, t) {
					any = append(any, t)
				}
			}
			tq.required = append(tq.required, any)
			continue
		}
		form := "HW_CPU_X86_VMX,CUSTOM_MAGIC"
		if allowForbidden {
			form = "HW_CPU_X86_VMX,!CUSTOM_MAGIC"
		}
		for _, t := range strings.Split(val, ",") {
			t = strings.TrimSpace(t)
			name := strings.TrimLeft(t, "!")
			if name == "" {
				return tq, badQuery("Expected 'required' parameter value of the form: %s. Got an empty trait in: %s", form, val)
			}
			if strings.HasPrefix(t, "!") {
				if !allowForbidden {
					return tq, badQuery("Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: %s", val)
				}
				if !seenForbidden[name] {
					seenForbidden[name] = true
					tq.forbidden = append(tq.forbidden, name)
				}
				continue
			}
			tq.required = append(tq.required, []string{name})
		}
	}
	return tq, nil
}

// memberOfQuery is parsed member_of values: AND of ORs, and forbidden.
type memberOfQuery struct {
	required  [][]string
	forbidden []string
}

// parseMemberOf reads member_of (or member_ofN): "uuid", "in:u1,u2",
// and from 1.32 "!uuid" and "!in:u1,u2"; repeats (ANDed) from 1.24.
func parseMemberOf(values []string, suffix string, v version) (memberOfQuery, error) {
	var mq memberOfQuery
	if !v.atLeast(24) && len(values) > 1 {
		return mq, fault.BadRequestf("Multiple member_of%s parameters are not supported", suffix)
	}
	for _, val := range values {
		if strings.Contains(val, ",") && !strings.HasPrefix(val, "in:") && !strings.HasPrefix(val, "!in:") {
			return mq, fault.BadRequestf("Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword using the valid microversion. Got: %s", val)
		}
		var req, forb []string
		switch {
		case strings.HasPrefix(val, "!in:"):
			forb = strings.Split(val[4:], ",")
		case strings.HasPrefix(val, "!"):
			forb = []string{val[1:]}
		case strings.HasPrefix(val, "in:"):
			req = strings.Split(val[3:], ",")
		default:
			req = []string{val}
		}
		for i, a := range append(append([]string{}, req...), forb...) {
			c, ok := canonicalUUID(a)
			if !ok {
				return mq, badQuery("Expected 'member_of' parameter to contain valid UUID(s). Got: %s", a)
			}
			if i < len(req) {
				req[i] = c
			} else {
				forb[i-len(req)] = c
			}
		}
		if len(req) > 0 {
			mq.required = append(mq.required, req)
		}
		if len(forb) > 0 {
			if !v.atLeast(32) {
				return mq, fault.BadRequestf("Forbidden member_of%s parameters are not supported in the specified microversion", suffix)
			}
			for _, f := range forb {
				if !contains(mq.forbidden, f) {
					mq.forbidden = append(mq.forbidden, f)
				}
			}
		}
	}
	return mq, nil
}

// parseInTree reads in_tree (or in_treeN).
func parseInTree(val string) (string, error) {
	c, ok := canonicalUUID(strings.TrimSpace(val))
	if !ok {
		return "", badQuery("Expected 'in_tree' parameter to be a format of uuid. Got: %s", val)
	}
	return c, nil
}

// uuidQuery checks a query value of format uuid.
func uuidQuery(key, val string) (string, error) {
	c, ok := canonicalUUID(val)
	if !ok {
		return "", badQuery("'%s' is not a 'uuid'", val)
	}
	_ = key
	return c, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
