package compute

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// POST /servers/{id}/action: the body names one action, as Nova's
// wsgi.action dispatch reads it, and its value is checked against the
// action's schema (nova/api/openstack/compute/schemas) before the server
// is looked up.

// serverActionHandler handles one action; arg is the value of the
// action's key.
type serverActionHandler func(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error

type serverActionDef struct {
	min int // the microversion it appeared in (1 = always)
	h   serverActionHandler
}

func (h *handlers) serverActionTable() map[string]serverActionDef {
	simple := func(name string) serverActionDef {
		return serverActionDef{1, func(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
			if _, err := h.svc.SimpleAction(r.Context(), principal(r), id, name); err != nil {
				return err
			}
			return noBody(w, http.StatusAccepted)
		}}
	}
	return map[string]serverActionDef{
		"os-start":            simple("start"),
		"os-stop":             simple("stop"),
		"pause":               simple("pause"),
		"unpause":             simple("unpause"),
		"suspend":             simple("suspend"),
		"resume":              simple("resume"),
		"unrescue":            simple("unrescue"),
		"shelveOffload":       simple("shelveOffload"),
		"reboot":              {1, h.actionReboot},
		"lock":                {1, h.actionLock},
		"unlock":              {1, h.actionUnlock},
		"resize":              {1, h.actionResize},
		"confirmResize":       {1, h.actionConfirmResize},
		"revertResize":        {1, h.actionRevertResize},
		"rebuild":             {1, h.actionRebuild},
		"createImage":         {1, h.actionCreateImage},
		"createBackup":        {1, h.actionCreateBackup}, // backup.go
		"rescue":              {1, h.actionRescue},
		"shelve":              {1, h.actionShelve},
		"unshelve":            {1, h.actionUnshelve},
		"os-getConsoleOutput": {1, h.actionConsoleOutput},
		"forceDelete":         {1, h.actionForceDelete},
		"restore":             {1, h.actionRestore},
		"os-resetState":       {1, h.actionResetState},
		"injectNetworkInfo":   {1, h.actionInjectNetworkInfo},
		"resetNetwork":        {1, h.actionResetNetwork},
		"migrate":             {1, h.actionMigrate},
		"os-migrateLive":      {1, h.actionMigrateLive},
		"trigger_crash_dump":  {17, h.actionTriggerCrashDump},
		"changePassword":      {1, h.actionChangePassword},
		"os-getVNCConsole":    {1, h.legacyConsoleAction("os-getVNCConsole", "vnc", []string{"novnc", "xvpvnc"})},
		"os-getSerialConsole": {1, h.legacyConsoleAction("os-getSerialConsole", "serial", []string{"serial"})},
		"os-getSPICEConsole":  {1, h.legacyConsoleAction("os-getSPICEConsole", "spice", []string{"spice-html5"})},
		"os-getRDPConsole":    {1, h.legacyConsoleAction("os-getRDPConsole", "rdp", []string{"rdp-html5"})},
	}
}

// serverAction dispatches POST /servers/{id}/action.
func (h *handlers) serverAction(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	if len(raw) == 0 || raw[0] != '{' {
		// Nova's action_peek fails on anything but an object, and its
		// dispatcher answers that as an unknown method.
		return fault.NotFoundf("The resource could not be found.")
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil || len(body) != 1 {
		return fault.BadRequestf("Malformed request body")
	}
	var name string
	var arg json.RawMessage
	for k, v := range body {
		name, arg = k, v
	}
	def, ok := h.serverActionTable()[name]
	if !ok {
		return fault.BadRequestf("There is no such action: %s", name)
	}
	if def.min > 1 && !mv(r).AtLeast(def.min) {
		return fault.NotFoundf("The resource could not be found.")
	}
	return def.h(w, r, r.PathValue("id"), arg)
}

// actionObject reads an action's value that must be an object
// (optionally null: then it returns nil).
func actionObject(name string, arg json.RawMessage, nullable bool, allowed []string, required ...string) (jsonObject, error) {
	if nullable && isNull(arg) {
		return nil, nil
	}
	var o jsonObject
	if len(arg) == 0 || arg[0] != '{' || json.Unmarshal(arg, &o) != nil {
		want := "'object'"
		if nullable {
			want = "'object', 'null'"
		}
		return nil, invalidField(name, arg, pyRepr(arg)+" is not of type "+want)
	}
	if err := o.check(name, arg, allowed, required...); err != nil {
		return nil, err
	}
	return o, nil
}

func (h *handlers) actionReboot(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	o, err := actionObject("reboot", arg, false, []string{"type"}, "type")
	if err != nil {
		return err
	}
	types := []string{"HARD", "Hard", "hard", "SOFT", "Soft", "soft"}
	var t string
	if json.Unmarshal(o["type"], &t) != nil || o["type"][0] != '"' {
		return invalidField("type", o["type"], pyRepr(o["type"])+" is not of type 'string'")
	}
	if !contains(types, t) {
		return invalidField("type", o["type"], pyRepr(o["type"])+" is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']")
	}
	if _, err := h.svc.Reboot(r.Context(), principal(r), id, strings.ToUpper(t) == "HARD"); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionLock(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	var reason *string
	if mv(r).AtLeast(73) {
		o, err := actionObject("lock", arg, true, []string{"locked_reason"})
		if err != nil {
			return err
		}
		if raw, ok := o["locked_reason"]; ok {
			s, err := jsonString("locked_reason", raw)
			if err != nil {
				return err
			}
			if err := stringLen("locked_reason", raw, s, 1, 255); err != nil {
				return err
			}
			reason = &s
		}
	}
	if err := h.svc.Lock(r.Context(), principal(r), id, reason); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionUnlock(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
	if err := h.svc.Unlock(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

// diskConfigField reads OS-DCF:diskConfig: AUTO or MANUAL.
func diskConfigField(raw json.RawMessage) (*bool, error) {
	const f = "OS-DCF:diskConfig"
	s, err := jsonString(f, raw)
	if err != nil {
		return nil, err
	}
	if s != "AUTO" && s != "MANUAL" {
		return nil, invalidField(f, raw, pyRepr(raw)+" is not one of ['AUTO', 'MANUAL']")
	}
	auto := s == "AUTO"
	return &auto, nil
}

// hrefID is Nova's get_id_from_href: the last segment of a URL's path.
func hrefID(ref string) string {
	if u, err := url.Parse(ref); err == nil {
		ref = u.Path
	}
	return ref[strings.LastIndex(ref, "/")+1:]
}

func (h *handlers) actionResize(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	o, err := actionObject("resize", arg, false, []string{"flavorRef", "OS-DCF:diskConfig"}, "flavorRef")
	if err != nil {
		return err
	}
	raw := o["flavorRef"]
	var ref string
	switch f, isInt, ok := jsonNumber(raw); {
	case ok && isInt:
		ref = fmt.Sprint(int64(f))
	case len(raw) > 0 && raw[0] == '"':
		_ = json.Unmarshal(raw, &ref)
		if ref == "" {
			return invalidField("flavorRef", raw, pyRepr(raw)+" should be non-empty")
		}
	default:
		return invalidField("flavorRef", raw, pyRepr(raw)+" is not of type 'string', 'integer'")
	}
	var auto *bool
	if dc, ok := o["OS-DCF:diskConfig"]; ok {
		if auto, err = diskConfigField(dc); err != nil {
			return err
		}
	}
	if _, err := h.svc.Resize(r.Context(), principal(r), id, hrefID(ref), auto); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionConfirmResize(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
	if _, err := h.svc.SimpleAction(r.Context(), principal(r), id, "confirmResize"); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}

func (h *handlers) actionRevertResize(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
	if _, err := h.svc.RevertResize(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

// uuidLike is Nova's 'uuid' format (oslo's is_uuid_like): hex with or
// without dashes.
func uuidLike(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

// uuidField reads a string in the 'uuid' format.
func uuidField(field string, raw json.RawMessage) (string, error) {
	s, err := jsonString(field, raw)
	if err != nil {
		return "", err
	}
	if !uuidLike(s) {
		return "", invalidField(field, raw, pyRepr(raw)+" is not a 'uuid'")
	}
	return s, nil
}

var metadataKey = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

// metadataField reads Nova's 'metadata' parameter type.
func metadataField(field string, raw json.RawMessage) (map[string]string, error) {
	o, err := objectAt(raw, field)
	if err != nil {
		return nil, err
	}
	var bad []string
	md := make(map[string]string, len(o))
	for k, v := range o {
		if !metadataKey.MatchString(k) {
			bad = append(bad, k)
			continue
		}
		s, err := jsonString(k, v)
		if err != nil {
			return nil, err
		}
		if err := stringLen(k, v, s, 0, 255); err != nil {
			return nil, err
		}
		md[k] = s
	}
	if len(bad) > 0 {
		return nil, o.check(field, raw, sortedStrings(md))
	}
	return md, nil
}

// sortedStrings lists a map's keys.
func sortedStrings(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

var (
	rebuildHostname = regexp.MustCompile(`^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$`)
	rebuildFQDN     = regexp.MustCompile(`^[a-zA-Z0-9-._]*$`)
)

func (h *handlers) actionRebuild(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	v := mv(r)
	allowed := []string{"name", "imageRef", "adminPass", "metadata", "preserve_ephemeral", "OS-DCF:diskConfig",
		"accessIPv4", "accessIPv6"}
	if !v.AtLeast(57) {
		allowed = append(allowed, "personality")
	}
	if v.AtLeast(19) {
		allowed = append(allowed, "description")
	}
	if v.AtLeast(54) {
		allowed = append(allowed, "key_name")
	}
	if v.AtLeast(57) {
		allowed = append(allowed, "user_data")
	}
	if v.AtLeast(63) {
		allowed = append(allowed, "trusted_image_certificates")
	}
	if v.AtLeast(90) {
		allowed = append(allowed, "hostname")
	}
	o, err := actionObject("rebuild", arg, false, allowed, "imageRef")
	if err != nil {
		return err
	}
	var a RebuildArgs
	if a.ImageRef, err = uuidField("imageRef", o["imageRef"]); err != nil {
		return err
	}
	if raw, ok := o["name"]; ok {
		n, err := nameField("name", raw, v.Legacy())
		if err != nil {
			return err
		}
		a.Name = &n
	}
	if raw, ok := o["adminPass"]; ok {
		if a.AdminPass, err = jsonString("adminPass", raw); err != nil {
			return err
		}
	}
	if raw, ok := o["metadata"]; ok {
		if a.Metadata, err = metadataField("metadata", raw); err != nil {
			return err
		}
	}
	if raw, ok := o["preserve_ephemeral"]; ok {
		if a.PreserveEphemeral, err = novaBoolean("preserve_ephemeral", raw); err != nil {
			return err
		}
	}
	if raw, ok := o["OS-DCF:diskConfig"]; ok {
		if a.AutoDiskConfig, err = diskConfigField(raw); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v6   bool
		dst  **string
	}{{"accessIPv4", false, &a.AccessIPv4}, {"accessIPv6", true, &a.AccessIPv6}} {
		raw, ok := o[f.name]
		if !ok {
			continue
		}
		s, err := jsonString(f.name, raw)
		if err != nil {
			return err
		}
		ip := net.ParseIP(s)
		if ip == nil || (ip.To4() != nil) == f.v6 || (!f.v6 && strings.Contains(s, ":")) {
			format := "ipv4"
			if f.v6 {
				format = "ipv6"
			}
			return invalidField(f.name, raw, fmt.Sprintf("%s is not a '%s'", pyRepr(raw), format))
		}
		if f.v6 {
			s = canonicalIPv6(s)
		}
		*f.dst = &s
	}
	if raw, ok := o["personality"]; ok {
		if len(raw) == 0 || raw[0] != '[' {
			return invalidField("personality", raw, pyRepr(raw)+" is not of type 'array'")
		}
	}
	if raw, ok := o["description"]; ok {
		d, err := descriptionField("description", raw, 255)
		if err != nil {
			return err
		}
		a.Description = &d
	}
	if raw, ok := o["key_name"]; ok {
		var k *string
		if !isNull(raw) {
			s, err := jsonString("key_name", raw)
			if err != nil || len([]rune(s)) < 1 || len([]rune(s)) > 255 {
				return invalidField("key_name", raw, pyRepr(raw)+" is not valid under any of the given schemas")
			}
			k = &s
		}
		a.KeyName = &k
	}
	if raw, ok := o["user_data"]; ok {
		var data []byte
		if !isNull(raw) {
			var s string
			if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
				return invalidField("user_data", raw, pyRepr(raw)+" is not of type 'string', 'null'")
			}
			if len(s) > 65535 {
				return invalidField("user_data", raw, pyRepr(raw)+" is too long")
			}
			if data, err = base64.StdEncoding.DecodeString(s); err != nil {
				return invalidField("user_data", raw, pyRepr(raw)+" is not a 'base64'")
			}
		}
		a.UserData = &data
	}
	if raw, ok := o["trusted_image_certificates"]; ok {
		certs, err := trustedCertsField(raw)
		if err != nil {
			return err
		}
		a.TrustedCerts = &certs
	}
	if raw, ok := o["hostname"]; ok {
		s, err := jsonString("hostname", raw)
		if err != nil {
			return err
		}
		minLen, maxLen, pat := 2, 63, rebuildHostname
		if v.AtLeast(94) {
			minLen, maxLen, pat = 1, 255, rebuildFQDN
		}
		if err := stringLen("hostname", raw, s, minLen, maxLen); err != nil {
			return err
		}
		if !pat.MatchString(s) {
			return invalidField("hostname", raw, fmt.Sprintf("%s does not match '%s'", pyRepr(raw), pat.String()))
		}
		a.Hostname = &s
	}
	p := principal(r)
	inst, pass, err := h.svc.Rebuild(r.Context(), p, id, a)
	if err != nil {
		return err
	}
	body, err := h.serverBody(r, inst, viewOpts{partial: !v.AtLeast(75), keyName: v.AtLeast(54), noUserData: true})
	if err != nil {
		return err
	}
	body["adminPass"] = pass
	if v.AtLeast(57) {
		body["user_data"] = userDataView(inst.UserData)
	}
	w.Header().Set("Location", resourceLinks(r, "servers", inst.UUID)[0].Href)
	return writeJSON(w, http.StatusAccepted, map[string]any{"server": body})
}

// trustedCertsField reads trusted_image_certificates: null, or 1 to 50
// distinct non-empty strings.
func trustedCertsField(raw json.RawMessage) ([]string, error) {
	const f = "trusted_image_certificates"
	if isNull(raw) {
		return nil, nil
	}
	var list []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, invalidField(f, raw, pyRepr(raw)+" is not of type 'array', 'null'")
	}
	if len(list) < 1 {
		return nil, invalidField(f, raw, pyRepr(raw)+" should be non-empty")
	}
	if len(list) > 50 {
		return nil, invalidField(f, raw, pyRepr(raw)+" is too long")
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		s, err := jsonString(f, item)
		if err != nil {
			return nil, err
		}
		if err := stringLen(f, item, s, 1, 0); err != nil {
			return nil, err
		}
		if contains(out, s) {
			return nil, invalidField(f, raw, pyRepr(raw)+" has non-unique elements")
		}
		out = append(out, s)
	}
	return out, nil
}

func (h *handlers) actionCreateImage(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	o, err := actionObject("createImage", arg, false, []string{"name", "metadata"}, "name")
	if err != nil {
		return err
	}
	v := mv(r)
	name, err := nameField("name", o["name"], v.Legacy())
	if err != nil {
		return err
	}
	var md map[string]string
	if raw, ok := o["metadata"]; ok {
		if md, err = metadataField("metadata", raw); err != nil {
			return err
		}
	}
	imageID, err := h.svc.CreateImage(r.Context(), principal(r), id, name, md, !v.AtLeast(39))
	if err != nil {
		return err
	}
	if v.AtLeast(45) {
		return writeJSON(w, http.StatusAccepted, map[string]any{"image_id": imageID})
	}
	w.Header().Set("Location", h.svc.imageURL(r, imageID))
	return noBody(w, http.StatusAccepted)
}

// ImageURLs is what an ImageAPI may also do: tell an image's URL in the
// image service, for createImage's Location (Nova's generate_image_url).
type ImageURLs interface {
	ImageURL(id string) string
}

// imageURL is where the image service shows image id; without an image
// service that says, Nova's own (deprecated) image proxy path.
func (s *Service) imageURL(r *http.Request, id string) string {
	if u, ok := s.images.(ImageURLs); ok {
		return u.ImageURL(id)
	}
	return bookmarkURL(r, "/images/"+url.PathEscape(id))
}

func (h *handlers) actionRescue(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	o, err := actionObject("rescue", arg, true, []string{"adminPass", "rescue_image_ref"})
	if err != nil {
		return err
	}
	var pass, image string
	if raw, ok := o["adminPass"]; ok {
		if pass, err = jsonString("adminPass", raw); err != nil {
			return err
		}
	}
	if raw, ok := o["rescue_image_ref"]; ok {
		if image, err = uuidField("rescue_image_ref", raw); err != nil {
			return err
		}
	}
	pass, err = h.svc.Rescue(r.Context(), principal(r), id, pass, image)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"adminPass": pass})
}

func (h *handlers) actionShelve(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
	if _, err := h.svc.Shelve(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionUnshelve(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	var a UnshelveArgs
	v := mv(r)
	switch {
	case v.AtLeast(91):
		o, err := actionObject("unshelve", arg, true, []string{"availability_zone", "host"})
		if err != nil {
			return err
		}
		if raw, ok := o["availability_zone"]; ok {
			z := ""
			if !isNull(raw) {
				var s string
				if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
					return invalidField("availability_zone", raw, pyRepr(raw)+" is not of type 'string', 'null'")
				}
				z = s
			}
			a.Zone = &z
		}
		if raw, ok := o["host"]; ok {
			s, err := jsonString("host", raw)
			if err != nil {
				return err
			}
			a.Host = s
		}
	case v.AtLeast(77):
		o, err := actionObject("unshelve", arg, true, []string{"availability_zone"}, "availability_zone")
		if err != nil {
			return err
		}
		if o != nil {
			z, err := nameField("availability_zone", o["availability_zone"], false)
			if err != nil {
				return err
			}
			a.Zone = &z
		}
	}
	if _, err := h.svc.Unshelve(r.Context(), principal(r), id, a); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

var consoleLength = regexp.MustCompile(`^-?[0-9]+$`)

func (h *handlers) actionConsoleOutput(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	o, err := actionObject("os-getConsoleOutput", arg, false, []string{"length"})
	if err != nil {
		return err
	}
	var length *int
	if raw, ok := o["length"]; ok && !isNull(raw) {
		var n int64
		switch f, isInt, isNum := jsonNumber(raw); {
		case isNum && isInt:
			n = int64(f)
		case len(raw) > 0 && raw[0] == '"':
			var s string
			_ = json.Unmarshal(raw, &s)
			if !consoleLength.MatchString(s) {
				return invalidField("length", raw, fmt.Sprintf("%s does not match '^-?[0-9]+$'", pyRepr(raw)))
			}
			if _, err := fmt.Sscan(s, &n); err != nil {
				return invalidField("length", raw, fmt.Sprintf("%s does not match '^-?[0-9]+$'", pyRepr(raw)))
			}
		default:
			return invalidField("length", raw, pyRepr(raw)+" is not of type 'integer', 'string', 'null'")
		}
		if n < -1 {
			return invalidField("length", raw, pyRepr(raw)+" is less than the minimum of -1")
		}
		l := int(min(n, 1<<31))
		length = &l
	}
	out, err := h.svc.ConsoleOutput(r.Context(), principal(r), id, length)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"output": out})
}

func (h *handlers) actionForceDelete(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
	if err := h.svc.ForceDelete(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionRestore(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
	if err := h.svc.Restore(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionResetState(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	o, err := actionObject("os-resetState", arg, false, []string{"state"}, "state")
	if err != nil {
		return err
	}
	raw := o["state"]
	s, err := jsonString("state", raw)
	if err != nil {
		return err
	}
	if s != "active" && s != "error" {
		return invalidField("state", raw, pyRepr(raw)+" is not one of ['active', 'error']")
	}
	if err := h.svc.ResetState(r.Context(), principal(r), id, s); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionInjectNetworkInfo(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
	if err := h.svc.InjectNetworkInfo(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

// actionResetNetwork is gone from Nova (23.0.0): 410 whatever the server.
func (h *handlers) actionResetNetwork(w http.ResponseWriter, r *http.Request, id string, _ json.RawMessage) error {
	return fault.New(fault.Gone, "This resource is no longer available.  No forwarding address is given.")
}

func (h *handlers) actionMigrate(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	host := ""
	if mv(r).AtLeast(56) {
		o, err := actionObject("migrate", arg, true, []string{"host"})
		if err != nil {
			return err
		}
		if raw, ok := o["host"]; ok && !isNull(raw) {
			if host, err = jsonString("host", raw); err != nil {
				return err
			}
		}
	}
	if err := h.svc.Migrate(r.Context(), principal(r), id, host, false); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionMigrateLive(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	v := mv(r)
	allowed := []string{"block_migration", "disk_over_commit", "host"}
	required := []string{"block_migration", "disk_over_commit", "host"}
	switch {
	case v.AtLeast(68):
		allowed, required = []string{"block_migration", "host"}, []string{"block_migration", "host"}
	case v.AtLeast(30):
		allowed, required = []string{"block_migration", "host", "force"}, []string{"block_migration", "host"}
	case v.AtLeast(25):
		allowed, required = []string{"block_migration", "host"}, []string{"block_migration", "host"}
	}
	o, err := actionObject("os-migrateLive", arg, false, allowed, required...)
	if err != nil {
		return err
	}
	host := ""
	if raw := o["host"]; !isNull(raw) {
		if host, err = jsonString("host", raw); err != nil {
			return err
		}
	}
	if err := h.svc.Migrate(r.Context(), principal(r), id, host, true); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionTriggerCrashDump(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	if !isNull(arg) {
		return invalidField("trigger_crash_dump", arg, pyRepr(arg)+" is not of type 'null'")
	}
	if err := h.svc.TriggerCrashDump(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) actionChangePassword(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	o, err := actionObject("changePassword", arg, false, []string{"adminPass"}, "adminPass")
	if err != nil {
		return err
	}
	if _, err := jsonString("adminPass", o["adminPass"]); err != nil {
		return err
	}
	if err := h.svc.ChangePassword(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

// serverDiagnostics is GET /servers/{id}/diagnostics: before 2.48 the
// libvirt driver's free-form keys, from 2.48 Nova's standard view. The
// QEMU driver stands in for Nova's libvirt one (Tempest's schema knows
// only Nova's drivers).
func (h *handlers) serverDiagnostics(w http.ResponseWriter, r *http.Request) error {
	d, err := h.svc.ServerDiagnostics(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	inst, info := d.Instance, d.Info
	if !mv(r).AtLeast(48) {
		body := map[string]any{"memory": info.MemoryMB * 1024}
		for i := 0; i < max(info.VCPUs, 1); i++ {
			body[fmt.Sprintf("cpu%d_time", i)] = info.CPUTimeNS / int64(max(info.VCPUs, 1))
		}
		return writeJSON(w, http.StatusOK, body)
	}
	cpus := make([]map[string]any, 0, info.VCPUs)
	for i := 0; i < info.VCPUs; i++ {
		cpus = append(cpus, map[string]any{"id": i, "time": info.CPUTimeNS / int64(info.VCPUs), "utilisation": nil})
	}
	var hyp any
	if d.HypervisorType != "" {
		hyp = strings.ToLower(d.HypervisorType)
	}
	// The guest's uptime is not known to the host (the agent reports
	// none), so it is null, as Nova allows.
	return writeJSON(w, http.StatusOK, map[string]any{
		"state": powerStateNames[int(info.PowerState)], "driver": "libvirt", "hypervisor": hyp, "hypervisor_os": "linux",
		"uptime": nil, "config_drive": inst.ConfigDrive, "num_cpus": info.VCPUs, "num_nics": 0, "num_disks": 1,
		"memory_details": map[string]any{"maximum": info.MemoryMB, "used": nil},
		"cpu_details":    cpus, "nic_details": []any{},
		"disk_details": []any{map[string]any{"read_bytes": nil, "read_requests": nil, "write_bytes": nil,
			"write_requests": nil, "errors_count": nil}},
	})
}
