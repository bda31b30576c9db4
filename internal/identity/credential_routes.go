package identity

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// credentialRoutes serves /v3/credentials, the OS-EC2 credentials of
// users and EC2 signature validation.
func (h *handlers) credentialRoutes(rt routeTable) {
	rt.Handle("GET /v3/credentials", h.listCredentials)
	rt.Handle("POST /v3/credentials", h.createCredential)
	rt.Handle("GET /v3/credentials/{id}", h.getCredential)
	rt.Handle("PATCH /v3/credentials/{id}", h.updateCredential)
	rt.Handle("DELETE /v3/credentials/{id}", h.deleteCredential)

	rt.Handle("GET /v3/users/{user_id}/credentials/OS-EC2", h.listEC2Credentials)
	rt.Handle("POST /v3/users/{user_id}/credentials/OS-EC2", h.createEC2Credential)
	rt.Handle("GET /v3/users/{user_id}/credentials/OS-EC2/{access}", h.getEC2Credential)
	rt.Handle("DELETE /v3/users/{user_id}/credentials/OS-EC2/{access}", h.deleteEC2Credential)

	// The signature is the authentication, as in Keystone.
	rt.Public("POST /v3/ec2tokens", h.ec2Tokens)
	rt.Handle("POST /v3/s3tokens", h.s3Tokens) // a service or admin token, as Keystone
}

func credentialWire(r *http.Request, c *Credential) map[string]any {
	var project any
	if c.ProjectID != "" {
		project = c.ProjectID
	}
	return withExtra(map[string]any{"id": c.ID, "user_id": c.UserID, "project_id": project, "type": c.Type,
		"blob": c.Blob, "links": selfLink(r, "credentials/"+c.ID)}, c.Extra)
}

var credentialFields = []string{"id", "user_id", "project_id", "type", "blob", "links"}

func (h *handlers) listCredentials(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	cs, err := h.svc.ListCredentials(r.Context(), principal(r), CredentialFilter{UserID: q.Get("user_id"), Type: q.Get("type")})
	if err != nil {
		return err
	}
	items := make([]any, 0, len(cs))
	for i := range cs {
		items = append(items, credentialWire(r, &cs[i]))
	}
	return writeOK(w, h.listBody(r, "credentials", items))
}

func (h *handlers) getCredential(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.GetCredential(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"credential": credentialWire(r, c)})
}

func (h *handlers) createCredential(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "credential")
	if err != nil {
		return err
	}
	c := Credential{Extra: extraFields(m, credentialFields...)}
	if err := optStrings(m, map[string]*string{"id": &c.ID, "user_id": &c.UserID, "project_id": &c.ProjectID,
		"type": &c.Type, "blob": &c.Blob}); err != nil {
		return err
	}
	if _, ok := m["blob"]; !ok {
		return fault.BadRequestf("Invalid input for field 'blob': 'blob' is a required property.")
	}
	out, err := h.svc.CreateCredential(r.Context(), principal(r), c)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"credential": credentialWire(r, out)})
}

func (h *handlers) updateCredential(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "credential")
	if err != nil {
		return err
	}
	if v, ok := m["id"]; ok && v != r.PathValue("id") {
		return fault.BadRequestf("Cannot change credential ID.")
	}
	var patch CredentialPatch
	for key, dst := range map[string]**string{"user_id": &patch.UserID, "project_id": &patch.ProjectID, "type": &patch.Type, "blob": &patch.Blob} {
		if *dst, err = reqString(m, key); err != nil {
			return err
		}
	}
	patch.Extra = extraFields(m, credentialFields...)
	c, err := h.svc.UpdateCredential(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"credential": credentialWire(r, c)})
}

func (h *handlers) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteCredential(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// OS-EC2.

func ec2Wire(r *http.Request, e *EC2Credential) map[string]any {
	var trust any
	if e.TrustID != nil {
		trust = *e.TrustID
	}
	return map[string]any{"user_id": e.UserID, "tenant_id": e.ProjectID, "access": e.Access, "secret": e.Secret,
		"trust_id": trust, "links": selfLink(r, "users/"+e.UserID+"/credentials/OS-EC2/"+e.Access)}
}

func (h *handlers) listEC2Credentials(w http.ResponseWriter, r *http.Request) error {
	es, err := h.svc.ListEC2Credentials(r.Context(), principal(r), r.PathValue("user_id"))
	if err != nil {
		return err
	}
	items := make([]any, 0, len(es))
	for i := range es {
		items = append(items, ec2Wire(r, &es[i]))
	}
	return writeOK(w, h.listBody(r, "credentials", items))
}

func (h *handlers) createEC2Credential(w http.ResponseWriter, r *http.Request) error {
	var body map[string]any
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	tenant, err := reqString(body, "tenant_id")
	if err != nil {
		return err
	}
	if tenant == nil {
		tenant = new(string)
	}
	e, err := h.svc.CreateEC2Credential(r.Context(), principal(r), r.PathValue("user_id"), *tenant)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"credential": ec2Wire(r, e)})
}

func (h *handlers) getEC2Credential(w http.ResponseWriter, r *http.Request) error {
	e, err := h.svc.GetEC2Credential(r.Context(), principal(r), r.PathValue("user_id"), r.PathValue("access"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"credential": ec2Wire(r, e)})
}

func (h *handlers) deleteEC2Credential(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteEC2Credential(r.Context(), principal(r), r.PathValue("user_id"), r.PathValue("access")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// ec2TokensBody is POST /v3/ec2tokens; older clients say "ec2Credentials".
type ec2TokensBody struct {
	Credentials    *ec2CredsWire `json:"credentials"`
	EC2Credentials *ec2CredsWire `json:"ec2Credentials"`
}

type ec2CredsWire struct {
	Access    string            `json:"access"`
	Signature string            `json:"signature"`
	Host      string            `json:"host"`
	Verb      string            `json:"verb"`
	Path      string            `json:"path"`
	Params    map[string]string `json:"params"`
	Headers   map[string]string `json:"headers"`
	BodyHash  string            `json:"body_hash"`
}

func (h *handlers) ec2Tokens(w http.ResponseWriter, r *http.Request) error {
	var body ec2TokensBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	c := body.Credentials
	if c == nil {
		c = body.EC2Credentials
	}
	if c == nil {
		return fault.BadRequestf("Expecting to find credentials in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	t, err := h.svc.EC2Token(r.Context(), EC2Request{Access: c.Access, Signature: c.Signature, Host: c.Host,
		Verb: c.Verb, Path: c.Path, BodyHash: c.BodyHash, Params: c.Params, Headers: c.Headers})
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", t.ID)
	return writeOK(w, map[string]any{"token": h.tokenBody(r, t, true)})
}
