// Package fault classifies errors for API callers. Services choose a Kind;
// only httpx turns a Kind into a status code and a body.
package fault

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind is the class of an error as an API caller sees it.
type Kind uint8

const (
	Internal Kind = iota // 500; Msg replaced by a generic text
	BadRequest
	Unauthorized
	Forbidden
	NotFound
	MethodNotAllowed
	Conflict
	Gone
	TooLarge
	RangeNotSatisfiable
	UnsupportedMediaType
	OverLimit
	NotImplemented
	Unavailable
)

// Error is an error whose message is safe to show to the caller.
type Error struct {
	Kind Kind
	Type string // machine name where a dialect shows one, e.g. "NetworkNotFound"
	Msg  string // safe to show
	Err  error  // for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// New makes an Error of kind with a formatted, caller-safe message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap makes an Error of kind that keeps cause for the logs only.
func Wrap(kind Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// Shorthands for the common kinds.
func BadRequestf(format string, args ...any) *Error   { return New(BadRequest, format, args...) }
func Unauthorizedf(format string, args ...any) *Error { return New(Unauthorized, format, args...) }
func Forbiddenf(format string, args ...any) *Error    { return New(Forbidden, format, args...) }
func NotFoundf(format string, args ...any) *Error     { return New(NotFound, format, args...) }
func Conflictf(format string, args ...any) *Error     { return New(Conflict, format, args...) }

// KindOf returns the Kind of err, Internal for plain errors.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return Internal
}

// Is reports whether err is a fault of kind.
func Is(err error, kind Kind) bool { return err != nil && KindOf(err) == kind }

// Status is the HTTP status code of a kind.
func (k Kind) Status() int {
	switch k {
	case BadRequest:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case Conflict:
		return http.StatusConflict
	case Gone:
		return http.StatusGone
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case RangeNotSatisfiable:
		return http.StatusRequestedRangeNotSatisfiable
	case UnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case OverLimit:
		return http.StatusRequestEntityTooLarge
	case NotImplemented:
		return http.StatusNotImplemented
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// FromStatus maps an HTTP status back to a Kind, for clients.
func FromStatus(code int) Kind {
	switch code {
	case http.StatusBadRequest:
		return BadRequest
	case http.StatusUnauthorized:
		return Unauthorized
	case http.StatusForbidden:
		return Forbidden
	case http.StatusNotFound:
		return NotFound
	case http.StatusMethodNotAllowed:
		return MethodNotAllowed
	case http.StatusConflict:
		return Conflict
	case http.StatusGone:
		return Gone
	case http.StatusRequestEntityTooLarge:
		return TooLarge
	case http.StatusRequestedRangeNotSatisfiable:
		return RangeNotSatisfiable
	case http.StatusUnsupportedMediaType:
		return UnsupportedMediaType
	case http.StatusNotImplemented:
		return NotImplemented
	case http.StatusServiceUnavailable:
		return Unavailable
	}
	return Internal
}
