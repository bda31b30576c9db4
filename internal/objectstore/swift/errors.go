package swift

import (
	"net/http"
	"strconv"
)

// explanations are the bodies Swift (swob) gives a bare status response.
var explanations = map[int]string{
	http.StatusAccepted:                     "The request is accepted for processing.",
	http.StatusBadRequest:                   "The server could not comply with the request since it is either malformed or otherwise incorrect.",
	http.StatusUnauthorized:                 "This server could not verify that you are authorized to access the document you requested.",
	http.StatusPaymentRequired:              "Access was denied for financial reasons.",
	http.StatusForbidden:                    "Access was denied to this resource.",
	http.StatusNotFound:                     "The resource could not be found.",
	http.StatusMethodNotAllowed:             "The method is not allowed for this resource.",
	http.StatusNotAcceptable:                "The resource is not available in a format acceptable to your browser.",
	http.StatusRequestTimeout:               "The server has waited too long for the request to be sent by the client.",
	http.StatusConflict:                     "There was a conflict when trying to complete your request.",
	http.StatusGone:                         "This resource is no longer available.",
	http.StatusLengthRequired:               "Length required.",
	http.StatusPreconditionFailed:           "A precondition for this request was not met.",
	http.StatusRequestEntityTooLarge:        "The body of your request was too large for this server.",
	http.StatusRequestURITooLong:            "The request URI was too long for this server.",
	http.StatusUnsupportedMediaType:         "The request media type is not supported by this server.",
	http.StatusRequestedRangeNotSatisfiable: "The Range requested is not available.",
	http.StatusExpectationFailed:            "Expectation failed.",
	http.StatusUnprocessableEntity:          "Unable to process the contained instructions",
	http.StatusTooManyRequests:              "The client is sending too many requests.",
	http.StatusRequestHeaderFieldsTooLarge:  "The header fields are too large.",
	http.StatusInternalServerError:          "The server has either erred or is incapable of performing the requested operation.",
	http.StatusNotImplemented:               "The requested method is not implemented by this server.",
	http.StatusBadGateway:                   "Bad gateway.",
	http.StatusServiceUnavailable:           "The server is currently unavailable. Please try again at a later time.",
	http.StatusGatewayTimeout:               "A timeout has occurred speaking to a backend server.",
	http.StatusInsufficientStorage:          "There was not enough space to save the resource.",
}

// titles differ from net/http's StatusText where swob says otherwise.
var titles = map[int]string{
	http.StatusInternalServerError:          "Internal Error",
	http.StatusRequestedRangeNotSatisfiable: "Requested Range Not Satisfiable",
}

// Title is the reason phrase Swift uses for a status.
func Title(status int) string {
	if t, ok := titles[status]; ok {
		return t
	}
	return http.StatusText(status)
}

// WriteStatus answers a bare status as Swift does: for statuses with an
// explanation, an HTML body "<html><h1>Title</h1><p>explanation</p></html>".
func WriteStatus(w http.ResponseWriter, r *http.Request, status int) {
	exp, ok := explanations[status]
	if !ok {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	writeText(w, r, status, "text/html; charset=UTF-8", "<html><h1>"+Title(status)+"</h1><p>"+exp+"</p></html>")
}

// WriteError answers status with msg as the body, as Swift's handlers do
// for errors with a specific reason ("Object name length of 1025 longer
// than 1024").
func WriteError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if msg == "" {
		WriteStatus(w, r, status)
		return
	}
	writeText(w, r, status, "text/html; charset=UTF-8", msg)
}

func writeText(w http.ResponseWriter, r *http.Request, status int, contentType, body string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
