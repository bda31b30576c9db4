package swift

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Path is a request's target in the public API: /v1/{account}[/{container}[/{object}]].
type Path struct {
	Version   string // "v1" or "v1.0"
	Account   string
	Container string
	Object    string // may contain slashes
}

// String is the path again, unescaped.
func (p Path) String() string {
	s := "/" + p.Version + "/" + p.Account
	if p.Container != "" {
		s += "/" + p.Container
		if p.Object != "" {
			s += "/" + p.Object
		}
	}
	return s
}

// ErrNotAPIPath means the path is not under /v1/{account}.
var ErrNotAPIPath = errors.New("not an API path")

// ParsePath splits a decoded request path (r.URL.Path). Like Swift, an
// encoded slash is a slash: "/v1/a/c%2Fo" is object "o" in container "c".
// Names are checked with CheckPath.
func ParsePath(path string) (Path, error) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return Path{}, ErrNotAPIPath
	}
	version, rest, _ := strings.Cut(rest, "/")
	if version != "v1" && version != "v1.0" {
		return Path{}, ErrNotAPIPath
	}
	p := Path{Version: version}
	p.Account, rest, _ = strings.Cut(rest, "/")
	if p.Account == "" {
		return Path{}, ErrNotAPIPath
	}
	if rest == "" {
		return p, nil
	}
	p.Container, p.Object, _ = strings.Cut(rest, "/")
	if p.Container == "" && p.Object != "" {
		return Path{}, &PathError{Status: http.StatusPreconditionFailed, Msg: "Invalid path: " + path}
	}
	return p, nil
}

// PathError is a path Swift refuses, with its status and message.
type PathError struct {
	Status int
	Msg    string
}

func (e *PathError) Error() string { return e.Msg }

// CheckPath applies Swift's name limits: UTF-8 without NUL, lengths.
func CheckPath(p Path) error {
	for _, n := range []string{p.Account, p.Container, p.Object} {
		if !utf8.ValidString(n) || strings.ContainsRune(n, 0) {
			return &PathError{Status: http.StatusPreconditionFailed, Msg: "Invalid UTF8 or contains NULL"}
		}
	}
	if len(p.Account) > MaxAccountNameLength {
		return &PathError{Status: http.StatusBadRequest, Msg: "Account name length of " + strconv.Itoa(len(p.Account)) + " longer than " + strconv.Itoa(MaxAccountNameLength)}
	}
	if len(p.Container) > MaxContainerNameLength {
		return &PathError{Status: http.StatusBadRequest, Msg: "Container name length of " + strconv.Itoa(len(p.Container)) + " longer than " + strconv.Itoa(MaxContainerNameLength)}
	}
	if len(p.Object) > MaxObjectNameLength {
		return &PathError{Status: http.StatusBadRequest, Msg: "Object name length of " + strconv.Itoa(len(p.Object)) + " longer than " + strconv.Itoa(MaxObjectNameLength)}
	}
	return nil
}

// BackendPath is a storage server request's target (see the package doc).
type BackendPath struct {
	Kind      string // "object", "container" or "account"
	Device    string
	Partition int
	Account   string
	Container string
	Object    string
}

// ParseBackendPath splits a decoded storage-server path. The device name
// may not be empty, "." or "..", or contain a slash.
func ParseBackendPath(path string) (BackendPath, error) {
	var bp BackendPath
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 6)
	if len(parts) < 3 {
		return bp, errors.New("short path")
	}
	bp.Kind, bp.Device = parts[0], parts[1]
	switch bp.Kind {
	case "object", "container", "account":
	default:
		return bp, errors.New("unknown kind " + bp.Kind)
	}
	if bp.Device == "" || bp.Device == "." || bp.Device == ".." {
		return bp, errors.New("bad device")
	}
	part := 0
	if parts[2] == "" || len(parts[2]) > 9 {
		return bp, errors.New("bad partition")
	}
	for _, c := range parts[2] {
		if c < '0' || c > '9' {
			return bp, errors.New("bad partition")
		}
		part = part*10 + int(c-'0')
	}
	bp.Partition = part
	if len(parts) > 3 {
		bp.Account = parts[3]
	}
	if len(parts) > 4 {
		bp.Container = parts[4]
	}
	if len(parts) > 5 {
		bp.Object = parts[5]
	}
	return bp, nil
}
