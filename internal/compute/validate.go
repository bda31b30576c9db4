package compute

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Request bodies are checked field by field against Nova's JSON schemas
// (nova/api/openstack/compute/schemas), with Nova's messages, which read
// "Invalid input for field/attribute <name>. Value: <value>. <why>".

// readBody reads a JSON body as Nova's wsgi layer does: any or no
// content type naming JSON, and an empty body read as null.
func readBody(r *http.Request) (json.RawMessage, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/vnd.openstack.compute+json") {
			return nil, fault.New(fault.UnsupportedMediaType, "Unsupported Content-Type")
		}
	}
	if r.Body == nil {
		return json.RawMessage("null"), nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fault.New(fault.TooLarge, "Request is too large.")
		}
		return nil, fault.Wrap(fault.BadRequest, err, "Malformed request body")
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(data) {
		return nil, fault.BadRequestf("Malformed request body")
	}
	return data, nil
}

// jsonObject is an object body read member by member.
type jsonObject map[string]json.RawMessage

// invalidField is Nova's message for a value that fails its schema.
func invalidField(field string, raw json.RawMessage, why string) error {
	// Nova formats the value with %s: a string bare, anything else as
	// Python's repr.
	value := pyRepr(raw)
	var str string
	if json.Unmarshal(raw, &str) == nil {
		value = str
	}
	return fault.BadRequestf("Invalid input for field/attribute %s. Value: %s. %s", field, value, why)
}

// objectAt reads raw as an object; field names it in messages ("" for
// the body itself).
func objectAt(raw json.RawMessage, field string) (jsonObject, error) {
	var o jsonObject
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &o) != nil {
		why := pyRepr(raw) + " is not of type 'object'"
		if field == "" {
			return nil, fault.BadRequestf("%s", why)
		}
		return nil, invalidField(field, raw, why)
	}
	return o, nil
}

// check applies Nova's additionalProperties and required rules to an
// object; raw and field locate it for messages ("" = the body).
func (o jsonObject) check(field string, raw json.RawMessage, allowed []string, required ...string) error {
	fail := func(why string) error {
		if field == "" {
			return fault.BadRequestf("%s", why)
		}
		return invalidField(field, raw, why)
	}
	for _, k := range required {
		if _, ok := o[k]; !ok {
			return fail(fmt.Sprintf("'%s' is a required property", k))
		}
	}
	if allowed != nil {
		var extra []string
		for k := range o {
			if !contains(allowed, k) {
				extra = append(extra, "'"+k+"'")
			}
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			verb := "was"
			if len(extra) > 1 {
				verb = "were"
			}
			return fail(fmt.Sprintf("Additional properties are not allowed (%s %s unexpected)", strings.Join(extra, ", "), verb))
		}
	}
	return nil
}

func (o jsonObject) has(k string) bool { _, ok := o[k]; return ok }

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// jsonString reads a string value.
func jsonString(field string, raw json.RawMessage) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", invalidField(field, raw, pyRepr(raw)+" is not of type 'string'")
	}
	return s, nil
}

// stringLen checks a string's length in characters, as jsonschema does.
func stringLen(field string, raw json.RawMessage, s string, minLen, maxLen int) error {
	n := len([]rune(s))
	if n < minLen {
		if minLen == 1 {
			return invalidField(field, raw, pyRepr(raw)+" should be non-empty")
		}
		return invalidField(field, raw, pyRepr(raw)+" is too short")
	}
	if maxLen > 0 && n > maxLen {
		return invalidField(field, raw, pyRepr(raw)+" is too long")
	}
	return nil
}

// printable is Nova's _is_printable: no control, format, private,
// unassigned or non-horizontal space characters, and nothing beyond the
// BMP (Nova builds its ranges up to U+FFFF).
func printable(r rune, spaces bool) bool {
	if r > 0xFFFF {
		return false
	}
	if unicode.Is(unicode.Zs, r) {
		return spaces
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// validName is Nova's 'name' format: printable characters, not starting
// or ending with whitespace.
func validName(s string) bool {
	rs := []rune(s)
	for i, r := range rs {
		if !printable(r, true) {
			return false
		}
		if (i == 0 || i == len(rs)-1) && unicode.Is(unicode.Zs, r) {
			return false
		}
	}
	return true
}

// validNameWithSpaces is the legacy v2.0 'name' format: printable, at
// least one non-space character.
func validNameWithSpaces(s string) bool {
	seen := false
	for _, r := range s {
		if !printable(r, true) {
			return false
		}
		if !unicode.Is(unicode.Zs, r) {
			seen = true
		}
	}
	return seen
}

// nameField reads a 1-255 character name in Nova's name format; legacy
// allows leading and trailing spaces.
func nameField(field string, raw json.RawMessage, legacy bool) (string, error) {
	s, err := jsonString(field, raw)
	if err != nil {
		return "", err
	}
	if err := stringLen(field, raw, s, 1, 255); err != nil {
		return "", err
	}
	if legacy {
		if !validNameWithSpaces(s) {
			return "", fault.BadRequestf("An invalid 'name' value was provided. The name must be: printable characters with at least one non space character")
		}
		return s, nil
	}
	if !validName(s) {
		return "", fault.BadRequestf("An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")
	}
	return s, nil
}

// description reads Nova's description: a string of printable characters
// (spaces allowed) or null.
func descriptionField(field string, raw json.RawMessage, maxLen int) (*string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return nil, invalidField(field, raw, pyRepr(raw)+" is not of type 'string', 'null'")
	}
	if len([]rune(s)) > maxLen {
		return nil, invalidField(field, raw, pyRepr(raw)+" is too long")
	}
	for _, r := range s {
		if !printable(r, true) {
			return nil, invalidField(field, raw, pyRepr(raw)+" does not match the description pattern")
		}
	}
	return &s, nil
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// intLike reads Nova's integer-or-string parameters (volume_size,
// flavor_param_*, non_negative_integer): a JSON integer, or a string of
// digits; then minimum and maximum (maxV < 0 = none).
func intLike(field string, raw json.RawMessage, minV, maxV int64) (int64, error) {
	var n int64
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		if !digits.MatchString(s) {
			return 0, invalidField(field, raw, fmt.Sprintf("%s does not match '^[0-9]+$'", pyRepr(raw)))
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, invalidField(field, raw, fmt.Sprintf("%s is greater than the maximum of %d", pyRepr(raw), maxV))
		}
		n = v
	default:
		f, isInt, ok := jsonNumber(raw)
		if !ok || !isInt {
			return 0, invalidField(field, raw, pyRepr(raw)+" is not of type 'integer', 'string'")
		}
		if f > math.MaxInt64/2 || f < math.MinInt64/2 {
			return 0, invalidField(field, raw, fmt.Sprintf("%s is greater than the maximum of %d", pyRepr(raw), maxV))
		}
		n = int64(f)
	}
	if n < minV {
		return 0, invalidField(field, raw, fmt.Sprintf("%s is less than the minimum of %d", pyRepr(raw), minV))
	}
	if maxV >= 0 && n > maxV {
		return 0, invalidField(field, raw, fmt.Sprintf("%s is greater than the maximum of %d", pyRepr(raw), maxV))
	}
	return n, nil
}

// jsonNumber reads a JSON number; isInt is jsonschema's integer (an
// integral value).
func jsonNumber(raw json.RawMessage) (f float64, isInt, ok bool) {
	if len(raw) == 0 || !(raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return 0, false, false
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return 0, false, false
	}
	return f, f == math.Trunc(f) && !math.IsInf(f, 0), true
}

// novaBoolean reads Nova's 'boolean' parameter type: a JSON boolean or
// one of its spellings.
func novaBoolean(field string, raw json.RawMessage) (bool, error) {
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes":
			return true, nil
		case "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no":
			return false, nil
		}
	}
	return false, invalidField(field, raw, pyRepr(raw)+" is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', "+
		"'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']")
}

// pyRepr shows a JSON value as Python's repr does in Nova's messages.
func pyRepr(raw json.RawMessage) string {
	var v any
	if len(raw) == 0 {
		return "None"
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	return pyValue(v, raw)
}

func pyValue(v any, raw json.RawMessage) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return "'" + strings.ReplaceAll(x, "'", `\'`) + "'"
	case float64:
		if raw != nil {
			s := strings.TrimSpace(string(raw))
			if !strings.ContainsAny(s, ".eE") {
				return s
			}
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e16 {
			if raw == nil {
				return strconv.FormatFloat(x, 'f', -1, 64)
			}
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyValue(e, nil)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "'" + k + "': " + pyValue(x[k], nil)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// ---- query strings

// queryCheck is Nova's query schemas: from 2.75 parameters a route does
// not know are refused.
func queryCheck(r *http.Request, allowed ...string) error {
	if !mv(r).AtLeast(75) {
		return nil
	}
	var extra []string
	for k := range r.URL.Query() {
		if !contains(allowed, k) {
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
	return fault.BadRequestf("Invalid input for query parameters %s. Value: %s. Additional properties are not allowed (%s %s unexpected)",
		strings.Trim(extra[0], "'"), r.URL.Query().Get(strings.Trim(extra[0], "'")), strings.Join(extra, ", "), verb)
}

// lastParam is webob's GET[name]: the last value given.
func lastParam(r *http.Request, name string) (string, bool) {
	vs, ok := r.URL.Query()[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// pageParams reads limit and marker; limit must be a non-negative
// integer and is -1 when not given.
func pageParams(r *http.Request) (limit int, marker string, err error) {
	limit = -1
	if vs, ok := r.URL.Query()["limit"]; ok {
		for _, v := range vs {
			if !digits.MatchString(v) {
				return 0, "", fault.BadRequestf("Invalid input for query parameters limit. Value: %s. '%s' does not match '^[0-9]*$'", v, v)
			}
		}
		n, err := strconv.Atoi(vs[len(vs)-1])
		if err != nil {
			n = math.MaxInt32
		}
		limit = n
	}
	marker, _ = lastParam(r, "marker")
	return limit, marker, nil
}
