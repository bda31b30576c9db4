package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
)

// Error is an S3 error response: its status, code and message, and the
// extra elements S3 adds for some codes (BucketName, Key, ...).
type Error struct {
	Status  int
	Code    string
	Message string
	Fields  []Field
}

// Field is one extra element of an error body.
type Field struct{ Name, Value string }

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// with returns a copy of e with more fields.
func (e *Error) with(kv ...string) *Error {
	c := *e
	c.Fields = append([]Field(nil), e.Fields...)
	for i := 0; i+1 < len(kv); i += 2 {
		c.Fields = append(c.Fields, Field{kv[i], kv[i+1]})
	}
	return &c
}

// msg returns a copy of e with another message.
func (e *Error) msg(m string) *Error {
	c := *e
	c.Message = m
	return &c
}

func s3err(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// The errors of S3's API reference (ErrorResponses), with AWS's messages.
var (
	errAccessDenied          = s3err(403, "AccessDenied", "Access Denied.")
	errSignatureDoesNotMatch = s3err(403, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	errInvalidAccessKeyID   = s3err(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
	errRequestTimeTooSkewed = s3err(403, "RequestTimeTooSkewed",
		"The difference between the request time and the current time is too large.")
	errAuthHeaderMalformed = s3err(400, "AuthorizationHeaderMalformed",
		"The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	errAuthQueryMalformed = s3err(400, "AuthorizationQueryParametersError",
		"Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	errNoSuchBucket     = s3err(404, "NoSuchBucket", "The specified bucket does not exist.")
	errNoSuchKey        = s3err(404, "NoSuchKey", "The specified key does not exist.")
	errNoSuchUpload     = s3err(404, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.")
	errBucketNotEmpty   = s3err(409, "BucketNotEmpty", "The bucket you tried to delete is not empty")
	errBucketOwnedByYou = s3err(409, "BucketAlreadyOwnedByYou",
		"Your previous request to create the named bucket succeeded and you already own it.")
	errInvalidBucketName = s3err(400, "InvalidBucketName", "The specified bucket is not valid.")
	errInvalidLocation   = s3err(400, "InvalidLocationConstraint", "The specified location constraint is not valid.")
	errEntityTooLarge    = s3err(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
	errEntityTooSmall    = s3err(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
	errBadDigest         = s3err(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	errInvalidDigest     = s3err(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
	errSHA256Mismatch    = s3err(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	errIncompleteBody    = s3err(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header")
	errMissingLength     = s3err(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	errInvalidRange      = s3err(416, "InvalidRange", "The requested range is not satisfiable")
	errMalformedXML      = s3err(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	errInvalidPart       = s3err(400, "InvalidPart", "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
	errInvalidPartOrder  = s3err(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
	errInvalidArgument   = s3err(400, "InvalidArgument", "Invalid Argument")
	errInvalidRequest    = s3err(400, "InvalidRequest", "Invalid Request")
	errInvalidURI        = s3err(400, "InvalidURI", "Couldn't parse the specified URI.")
	errKeyTooLong        = s3err(400, "KeyTooLongError", "Your key is too long")
	errMetadataTooLarge  = s3err(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	errInvalidStorage    = s3err(400, "InvalidStorageClass", "The storage class you specified is not valid")
	errPrecondition      = s3err(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	errMethodNotAllowed  = s3err(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	errRequestTimeout    = s3err(400, "RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.")
	errNotImplemented    = s3err(501, "NotImplemented", "A header you provided implies functionality that is not implemented.")
	errInternal          = s3err(500, "InternalError", "We encountered an internal error. Please try again.")
	errUnavailable       = s3err(503, "ServiceUnavailable", "Please reduce your request rate.")
)

// notImplemented names what is missing.
func notImplemented(what string) *Error {
	return errNotImplemented.msg(what + " is not implemented.")
}

// invalidArgument is InvalidArgument about one argument.
func invalidArgument(name, value, msg string) *Error {
	return errInvalidArgument.msg(msg).with("ArgumentName", name, "ArgumentValue", value)
}

// writeError answers e as S3 does: an XML body (none for HEAD) naming
// the resource and the request id.
func writeError(w http.ResponseWriter, r *http.Request, reqID string, e *Error) {
	h := w.Header()
	h.Set("x-amz-request-id", reqID)
	h.Set("x-amz-id-2", reqID)
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(e.Status)
		return
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString("<Error><Code>")
	xmlText(&b, e.Code)
	b.WriteString("</Code><Message>")
	xmlText(&b, e.Message)
	b.WriteString("</Message>")
	for _, f := range e.Fields {
		b.WriteString("<" + f.Name + ">")
		xmlText(&b, f.Value)
		b.WriteString("</" + f.Name + ">")
	}
	b.WriteString("<Resource>")
	xmlText(&b, r.URL.Path)
	b.WriteString("</Resource><RequestId>")
	xmlText(&b, reqID)
	b.WriteString("</RequestId></Error>")
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(b.String()))
}

func xmlText(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s))
}
