package compute

import (
	"net/http"
	"regexp"
)

var (
	keypairName    = regexp.MustCompile(`^[_\- a-zA-Z0-9]+$`)
	keypairName292 = regexp.MustCompile(`^[_\-@. a-zA-Z0-9]+$`)
)

// keypairUser is the user_id query parameter, honoured from 2.10.
func keypairUser(r *http.Request) string {
	if !mv(r).AtLeast(10) {
		return ""
	}
	u, _ := lastParam(r, "user_id")
	return u
}

func (h *handlers) createKeyPair(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	var top []string
	if !v.Legacy() {
		top = []string{"keypair"}
	}
	if err := body.check("", raw, top, "keypair"); err != nil {
		return err
	}
	kraw := body["keypair"]
	ko, err := objectAt(kraw, "keypair")
	if err != nil {
		return err
	}
	var allowed []string
	required := []string{"name"}
	switch {
	case v.Legacy():
	case v.AtLeast(10):
		allowed = []string{"name", "type", "public_key", "user_id"}
	case v.AtLeast(2):
		allowed = []string{"name", "type", "public_key"}
	default:
		allowed = []string{"name", "public_key"}
	}
	if v.AtLeast(92) {
		required = append(required, "public_key")
	}
	if err := ko.check("keypair", kraw, allowed, required...); err != nil {
		return err
	}
	spec := KeyPairSpec{Generate: !v.AtLeast(92)}
	if spec.Name, err = nameField("name", ko["name"], v.Legacy()); err != nil {
		return err
	}
	if !v.Legacy() {
		pat := keypairName
		if v.AtLeast(92) {
			pat = keypairName292
		}
		if !pat.MatchString(spec.Name) {
			return invalidField("name", ko["name"], pyRepr(ko["name"])+" does not match '"+pat.String()+"'")
		}
	}
	if raw, ok := ko["public_key"]; ok {
		s, err := jsonString("public_key", raw)
		if err != nil {
			return err
		}
		spec.PublicKey = &s
	}
	if raw, ok := ko["type"]; ok && v.AtLeast(2) {
		s, err := jsonString("type", raw)
		if err != nil {
			return err
		}
		if s != KeyTypeSSH && s != KeyTypeX509 {
			return invalidField("type", raw, pyRepr(raw)+" is not one of ['ssh', 'x509']")
		}
		spec.Type = s
	}
	if raw, ok := ko["user_id"]; ok && v.AtLeast(10) {
		if spec.UserID, err = jsonString("user_id", raw); err != nil {
			return err
		}
	}
	k, err := h.svc.CreateKeyPair(r.Context(), principal(r), spec)
	if err != nil {
		return err
	}
	fields := []string{"name", "public_key", "fingerprint", "user_id"}
	if k.PrivateKey != "" {
		fields = append(fields, "private_key")
	}
	status := http.StatusOK
	if v.AtLeast(2) {
		status = http.StatusCreated
	}
	return writeJSON(w, status, map[string]any{"keypair": toKeyPair(r, k, fields...)})
}

func (h *handlers) listKeyPairs(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	if err := queryCheck(r, "user_id", "limit", "marker"); err != nil {
		return err
	}
	limit, marker, zero := 0, "", false // 0 = all, before 2.35
	if v.AtLeast(35) {
		l, m, err := pageParams(r)
		if err != nil {
			return err
		}
		marker = m
		if l == 0 { // Nova's LIMIT 0: nothing, the marker still checked
			zero, limit = true, 1
		} else {
			limit = h.svc.pageLimit(l)
		}
	}
	keys, err := h.svc.ListKeyPairs(r.Context(), principal(r), keypairUser(r), limit, marker)
	if err != nil {
		return err
	}
	if zero {
		keys = nil
	}
	list := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		list = append(list, map[string]any{"keypair": toKeyPair(r, k, "name", "public_key", "fingerprint")})
	}
	body := map[string]any{"keypairs": list}
	if v.AtLeast(35) && len(keys) > 0 {
		if links := h.nextLinks(r, "os-keypairs", len(keys), keys[len(keys)-1].Name); links != nil {
			body["keypairs_links"] = links
		}
	}
	return writeJSON(w, http.StatusOK, body)
}

func (h *handlers) showKeyPair(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "user_id"); err != nil {
		return err
	}
	k, err := h.svc.GetKeyPair(r.Context(), principal(r), keypairUser(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keypair": toKeyPair(r, k, "name", "public_key", "fingerprint", "user_id", "meta")})
}

func (h *handlers) deleteKeyPair(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "user_id"); err != nil {
		return err
	}
	if err := h.svc.DeleteKeyPair(r.Context(), principal(r), keypairUser(r), r.PathValue("name")); err != nil {
		return err
	}
	if mv(r).AtLeast(2) {
		return noBody(w, http.StatusNoContent)
	}
	return noBody(w, http.StatusAccepted)
}
