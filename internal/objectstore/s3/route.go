package s3

import "net/http"

// Sub-resources this API does not serve: asking for one is NotImplemented,
// never a success that did nothing.
var (
	unsupportedBucket = []string{"accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering",
		"inventory", "lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls",
		"policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "tagging", "versions", "website"}
	unsupportedObject = []string{"acl", "attributes", "legal-hold", "restore", "retention", "select", "tagging", "torrent"}
)

func (h *handler) route(req *request) error {
	m := req.r.Method
	switch {
	case req.bucket == "":
		if m == http.MethodGet {
			return h.listBuckets(req)
		}
		return methodNotAllowed(m, "SERVICE")
	case req.key == "":
		return h.routeBucket(req)
	}
	return h.routeObject(req)
}

func methodNotAllowed(method, resource string) *Error {
	return errMethodNotAllowed.with("Method", method, "ResourceType", resource)
}

func (h *handler) routeBucket(req *request) error {
	m, q := req.r.Method, req.q
	only := func(method string, f func(*request) error) error {
		if m != method {
			return methodNotAllowed(m, "BUCKET")
		}
		return f(req)
	}
	switch {
	case q.Has("location"):
		return only(http.MethodGet, h.getLocation)
	case q.Has("uploads"):
		return only(http.MethodGet, h.listUploads)
	case q.Has("delete"):
		return only(http.MethodPost, h.deleteObjects)
	case q.Has("versioning"):
		if m == http.MethodPut {
			return notImplemented("Bucket versioning through S3")
		}
		return only(http.MethodGet, h.getVersioning)
	}
	for _, sub := range unsupportedBucket {
		if q.Has(sub) {
			return notImplemented("The bucket " + sub + " sub-resource")
		}
	}
	switch m {
	case http.MethodGet:
		return h.listObjects(req)
	case http.MethodHead:
		return h.headBucket(req)
	case http.MethodPut:
		return h.createBucket(req)
	case http.MethodDelete:
		return h.deleteBucket(req)
	case http.MethodPost:
		return notImplemented("POST Object (browser-based uploads)")
	}
	return methodNotAllowed(m, "BUCKET")
}

func (h *handler) routeObject(req *request) error {
	m, q := req.r.Method, req.q
	switch {
	case q.Has("uploads"):
		if m != http.MethodPost {
			return methodNotAllowed(m, "OBJECT")
		}
		return h.createUpload(req)
	case q.Has("uploadId"):
		switch m {
		case http.MethodPut:
			return h.uploadPart(req)
		case http.MethodGet:
			return h.listParts(req)
		case http.MethodPost:
			return h.completeUpload(req)
		case http.MethodDelete:
			return h.abortUpload(req)
		}
		return methodNotAllowed(m, "OBJECT")
	}
	for _, sub := range unsupportedObject {
		if q.Has(sub) {
			return notImplemented("The object " + sub + " sub-resource")
		}
	}
	if v, ok := q["versionId"]; ok && v[0] != "null" {
		// Without S3 versioning every object is the "null" version.
		return invalidArgument("versionId", v[0], "Invalid version id specified")
	}
	if q.Has("partNumber") && (m == http.MethodGet || m == http.MethodHead) {
		return notImplemented("GET and HEAD of one part (partNumber)")
	}
	switch m {
	case http.MethodGet, http.MethodHead:
		return h.getObject(req)
	case http.MethodPut:
		if req.r.Header.Get("X-Amz-Copy-Source") != "" {
			return h.copyObject(req)
		}
		return h.putObject(req)
	case http.MethodDelete:
		return h.deleteObject(req)
	case http.MethodPost:
		return notImplemented("POST on an object")
	}
	return methodNotAllowed(m, "OBJECT")
}
