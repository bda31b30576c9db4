package s3

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// S3's older Signature Version 2 (header "AWS access:signature", or
// AWSAccessKeyId/Signature/Expires in the query): HMAC-SHA1 over a string
// of the method, Content-MD5, Content-Type, date, x-amz-* headers and the
// resource with its sub-resources.

// subResources are the query parameters SigV2 signs, sorted.
var subResources = []string{
	"acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "object-lock",
	"partNumber", "policy", "publicAccessBlock", "requestPayment", "response-cache-control",
	"response-content-disposition", "response-content-encoding", "response-content-language",
	"response-content-type", "response-expires", "restore", "tagging", "torrent", "uploadId",
	"uploads", "versionId", "versioning", "versions", "website",
}

// parseV2Header splits "AWS access:signature".
func parseV2Header(auth string) (access, sig string, ok bool) {
	rest := strings.TrimPrefix(auth, "AWS ")
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// stringToSignV2 builds SigV2's string to sign; date is the Date header,
// "" when X-Amz-Date is sent, or the Expires of a presigned URL.
func stringToSignV2(r *http.Request, q url.Values, date string) string {
	lines := []string{r.Method, strings.TrimSpace(r.Header.Get("Content-MD5")), strings.TrimSpace(r.Header.Get("Content-Type")), date}
	amz := map[string][]string{}
	for name, vals := range r.Header {
		n := strings.ToLower(name)
		if strings.HasPrefix(n, "x-amz-") {
			for _, v := range vals {
				amz[n] = append(amz[n], strings.TrimSpace(v))
			}
		}
	}
	names := make([]string, 0, len(amz))
	for n := range amz {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		lines = append(lines, n+":"+strings.Join(amz[n], ","))
	}
	resource := rawPath(r)
	var subs []string
	for _, k := range subResources {
		if vs, ok := q[k]; ok {
			if vs[0] != "" {
				subs = append(subs, k+"="+vs[0])
			} else {
				subs = append(subs, k)
			}
		}
	}
	if len(subs) > 0 {
		resource += "?" + strings.Join(subs, "&")
	}
	lines = append(lines, resource)
	return strings.Join(lines, "\n")
}

// rawPath is the path as the client sent it, still escaped: SigV2 signs
// it so.
func rawPath(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" {
		return r.URL.EscapedPath()
	}
	if !strings.HasPrefix(uri, "/") {
		if u, err := url.ParseRequestURI(uri); err == nil {
			return u.EscapedPath()
		}
	}
	p, _, _ := strings.Cut(uri, "?")
	return p
}
