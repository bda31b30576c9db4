package compute

import "net/http"

// The version documents, as Nova's api/openstack/compute/versions.py
// shows them for a cloud whose maximum is MaxVersion.
type versionDoc struct {
	ID         string      `json:"id"`
	Status     string      `json:"status"`
	Version    string      `json:"version"`
	MinVersion string      `json:"min_version"`
	Updated    string      `json:"updated"`
	Links      []linkTyped `json:"links"`
	MediaTypes []mediaType `json:"media-types,omitempty"`
}

type linkTyped struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
	Type string `json:"type,omitempty"`
}

type mediaType struct {
	Base string `json:"base"`
	Type string `json:"type"`
}

const docsURL = "http://docs.openstack.org/"

func v20Doc() versionDoc {
	return versionDoc{ID: "v2.0", Status: "SUPPORTED", Version: "", MinVersion: "", Updated: "2011-01-21T11:33:21Z",
		MediaTypes: []mediaType{{Base: "application/json", Type: "application/vnd.openstack.compute+json;version=2"}}}
}

func v21Doc() versionDoc {
	return versionDoc{ID: "v2.1", Status: "CURRENT", Version: MaxVersion.String(), MinVersion: MinVersion.String(),
		Updated:    "2013-07-23T11:33:21Z",
		MediaTypes: []mediaType{{Base: "application/json", Type: "application/vnd.openstack.compute+json;version=2.1"}}}
}

// versions is GET /: both APIs, each with its self link only.
func (h *handlers) versions(w http.ResponseWriter, r *http.Request) error {
	base := h.svc.baseURL(r)
	var out []versionDoc
	for _, d := range []struct {
		doc  versionDoc
		path string
	}{{v20Doc(), "/v2/"}, {v21Doc(), "/v2.1/"}} {
		doc := d.doc
		doc.MediaTypes = nil
		doc.Links = []linkTyped{{Rel: "self", Href: base + d.path}}
		out = append(out, doc)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"versions": out})
}

// versionShow is GET /v2.1 and /v2: the version document of the API the
// request came in on.
func (h *handlers) versionShow(w http.ResponseWriter, r *http.Request) error {
	doc := v21Doc()
	if mv(r).Legacy() {
		doc = v20Doc()
	}
	ri := info(r)
	self := ri.base + ri.apiPrefix
	if ri.urlProject != "" {
		self += "/" + ri.urlProject
	}
	doc.Links = []linkTyped{{Rel: "self", Href: self + "/"}, {Rel: "describedby", Type: "text/html", Href: docsURL}}
	return writeJSON(w, http.StatusOK, map[string]any{"version": doc})
}
