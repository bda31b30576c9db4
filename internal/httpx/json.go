package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// DecodeJSON reads one JSON value from the request body into v. Unknown
// fields are allowed (most OpenStack schemas allow them); use
// DecodeJSONStrict where the service rejects them.
func DecodeJSON(r *http.Request, v any) error { return decode(r, v, false) }

// DecodeJSONStrict is DecodeJSON rejecting fields v does not declare.
func DecodeJSONStrict(r *http.Request, v any) error { return decode(r, v, true) }

func decode(r *http.Request, v any, strict bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !jsonSuffix(mt)) {
			return &fault.Error{Kind: fault.BadRequest, Type: "UnsupportedMediaType",
				Msg: "Malformed request body: expected a JSON content type."}
		}
	}
	if r.Body == nil {
		return fault.BadRequestf("Malformed request body: body is empty.")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fault.New(fault.TooLarge, "Request is too large.")
		}
		return fault.Wrap(fault.BadRequest, err, "Malformed request body: could not read it.")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fault.BadRequestf("Malformed request body: body is empty.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return fault.Wrap(fault.BadRequest, err, "Malformed request body: %s", describeJSONError(err))
	}
	if dec.More() {
		return fault.BadRequestf("Malformed request body: unexpected data after the JSON value.")
	}
	return nil
}

func jsonSuffix(mt string) bool {
	return len(mt) > 5 && mt[len(mt)-5:] == "+json"
}

// describeJSONError gives a message safe to show: no echo of large input.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "invalid JSON."
	case errors.As(err, &te):
		if te.Field != "" {
			return "invalid type for field '" + te.Field + "'."
		}
		return "invalid type."
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON."
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// WriteJSON writes v as the JSON body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data) // a client gone away is not the handler's error
	return nil
}

// NoContent writes 204.
func NoContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}
