package bulk

import (
	"archive/tar"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// archiveTypes maps ?extract-archive= values to their compression.
var archiveTypes = map[string]string{"tar": "", "tar.gz": "gz", "tar.bz2": "bz2"}

// extraction is one ?extract-archive request under way.
type extraction struct {
	m          *middleware
	r          *http.Request
	version    string
	account    string
	base       string // the path below the account the files go under
	created    int
	containers map[string]bool // containers seen (checked or created)
	newConts   int
	failures   []Failure
	badGateway bool
}

// extract answers ?extract-archive: each regular file of the archive the
// body streams becomes the object "<path>/<file name>" under the account,
// the first path segment naming its container, created when missing.
// Member names are only ever used as object names, never as file paths.
func (m *middleware) extract(w http.ResponseWriter, r *http.Request, compress, format string) {
	// The archive is read while heartbeats are written: without this, an
	// HTTP/1 server drops the unread body once the answer starts. It is
	// read only in this goroutine and closed before this returns.
	defer fullDuplex(w, r)()
	p := StartProgress(w, format, http.StatusOK, m.o.YieldFrequency)
	x := &extraction{m: m, r: r, containers: map[string]bool{}}
	status, body := http.StatusCreated, ""
	err := x.run(format, compress)
	var he *Error
	switch {
	case errors.As(err, &he):
		status, body = he.Status, he.Body
	case err != nil:
		status, body = http.StatusBadRequest, "Invalid Tar File: "+tarMessage(err)
	case len(x.failures) > 0:
		status = http.StatusBadRequest
		if x.badGateway {
			status = http.StatusBadGateway
		}
	case x.created == 0:
		status, body = http.StatusBadRequest, "Invalid Tar File: No Valid Files"
	}
	fields := []Field{
		{"Response Status", Status(status)},
		{"Response Body", body},
		{"Number Files Created", x.created},
	}
	p.Finish(Body(format, fields, x.failures, "extract"))
}

// tarMessage words an archive's error as Python's tarfile would.
func tarMessage(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated header"
	case errors.Is(err, tar.ErrHeader):
		return "invalid header"
	case errors.Is(err, gzip.ErrHeader):
		return "not a gzip file"
	case errors.Is(err, gzip.ErrChecksum):
		return "CRC check failed"
	}
	var be bzip2.StructuralError
	if errors.As(err, &be) {
		return "invalid compressed data"
	}
	return err.Error()
}

// run reads the archive; an *Error fails the whole request, any other
// error is a broken archive.
func (x *extraction) run(format, compress string) error {
	if format == "" {
		return &Error{Status: http.StatusNotAcceptable}
	}
	if !hasLength(x.r) {
		return &Error{Status: http.StatusLengthRequired}
	}
	var ok bool
	if x.version, x.account, ok = accountOf(x.r.URL.Path); !ok {
		return &Error{Status: http.StatusNotFound}
	}
	rest := strings.TrimPrefix(x.r.URL.Path, "/"+x.version+"/"+x.account)
	x.base = strings.TrimRight(strings.TrimPrefix(rest, "/"), "/")

	var body io.Reader = x.r.Body
	switch compress {
	case "gz":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return err
		}
		defer zr.Close()
		body = zr
	case "bz2":
		body = bzip2.NewReader(body)
	}
	tr := tar.NewReader(body)
	for len(x.failures) < x.m.o.MaxFailedExtractions {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !regular(hdr) {
			continue
		}
		if err := x.member(hdr, tr); err != nil {
			return err
		}
	}
	return nil
}

func regular(h *tar.Header) bool {
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse, '\x00':
		return true
	}
	return false
}

// objectPath is where a member goes, below the account: the member's
// name without a leading "./" or "/", under the request's path. ok is
// false for files outside any container (no slash), which Swift skips.
func objectPath(base, name string) (string, bool) {
	name = strings.TrimPrefix(name, "./")
	name = strings.TrimLeft(name, "/")
	if base != "" {
		name = base + "/" + name
	}
	return name, strings.Contains(name, "/")
}

func (x *extraction) fail(name string, status int) {
	x.failures = append(x.failures, Failure{Quote(truncate(name, maxPathLength)), Status(status)})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// member uploads one regular file. Problems with the file are failures
// of that file; only an unauthorized caller or too many containers end
// the request.
func (x *extraction) member(hdr *tar.Header, body io.Reader) error {
	objPath, ok := objectPath(x.base, hdr.Name)
	if !ok {
		return nil
	}
	container, object, _ := strings.Cut(objPath, "/")
	dest := "/" + x.version + "/" + x.account + "/" + objPath
	switch {
	case !utf8.ValidString(dest) || strings.IndexByte(dest, 0) >= 0:
		x.fail(objPath, http.StatusPreconditionFailed)
		return nil
	case hdr.Size > swift.MaxFileSize:
		x.fail(objPath, http.StatusRequestEntityTooLarge)
		return nil
	case container == "" || object == "" ||
		len(container) > swift.MaxContainerNameLength || len(object) > swift.MaxObjectNameLength:
		// An empty name would make the PUT one of a container; an
		// overlong one cannot be stored.
		x.fail(objPath, http.StatusBadRequest)
		return nil
	}
	headers, ok := x.memberHeaders(hdr)
	if !ok {
		x.fail(objPath, http.StatusBadRequest)
		return nil
	}

	var contFailure *Failure
	if !x.containers[container] {
		created, status, err := x.ensureContainer(container)
		switch {
		case err != nil:
			return err
		case status != 0:
			contPath := "/" + x.version + "/" + x.account + "/" + container
			contFailure = &Failure{Quote(truncate(contPath, maxPathLength)), Status(status)}
			if status == http.StatusUnauthorized {
				return &Error{Status: http.StatusUnauthorized}
			}
		case created:
			x.newConts++
			if x.newConts > x.m.o.MaxContainersPerExtraction {
				return &Error{Status: http.StatusBadRequest, Body: fmt.Sprintf("More than %d containers to create from tar.", x.m.o.MaxContainersPerExtraction)}
			}
		}
	}

	sub := segment.NewRequest(x.r, "EA", http.MethodPut, dest, "", body)
	sub.Header = headers
	sub.ContentLength = hdr.Size
	sub.Header.Set("Content-Length", strconv.FormatInt(hdr.Size, 10))
	res := segment.Call(x.m.next, sub, 0)
	x.containers[container] = true
	if res.Status/100 == 2 {
		x.created++
		return nil
	}
	if contFailure != nil {
		x.failures = append(x.failures, *contFailure)
	}
	if res.Status == http.StatusUnauthorized {
		x.fail(objPath, http.StatusUnauthorized)
		return &Error{Status: http.StatusUnauthorized}
	}
	if res.Status/100 == 5 {
		x.badGateway = true
	}
	x.fail(objPath, res.Status)
	return nil
}

// memberHeaders are the PUT's headers: the caller's token, the request's
// object metadata and expiry, and the member's extended attributes
// user.mime_type (Content-Type) and user.meta.* (metadata), as GNU and BSD
// tar store them. ok is false when an attribute cannot be a header.
func (x *extraction) memberHeaders(hdr *tar.Header) (http.Header, bool) {
	h := http.Header{}
	copyAuth(h, x.r.Header)
	for k, v := range x.r.Header {
		if k == "X-Delete-At" || k == "X-Delete-After" || strings.HasPrefix(k, "X-Object-Meta-") {
			h[k] = v
		}
	}
	for key, value := range hdr.PAXRecords {
		name := paxHeader(key)
		if name == "" {
			continue
		}
		if !validHeader(name, value) {
			return nil, false
		}
		h[textproto.CanonicalMIMEHeaderKey(name)] = []string{value}
	}
	return h, true
}

// paxHeader maps a PAX record naming an extended attribute to the
// object header it sets, "" for the others.
func paxHeader(key string) string {
	for _, prefix := range []string{"SCHILY.xattr.user.", "LIBARCHIVE.xattr.user."} {
		attr, ok := strings.CutPrefix(key, prefix)
		if !ok {
			continue
		}
		if attr == "mime_type" {
			return "Content-Type"
		}
		if meta, ok := strings.CutPrefix(attr, "meta."); ok && meta != "" {
			return "X-Object-Meta-" + meta
		}
	}
	return ""
}

// validHeader: a token for a name, no control characters in the value.
func validHeader(name, value string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// ensureContainer makes sure the container exists: created reports a new
// one; status is the failure of the HEAD or PUT, 0 when all is well.
func (x *extraction) ensureContainer(container string) (created bool, status int, err error) {
	path := "/" + x.version + "/" + x.account + "/" + container
	head := segment.NewRequest(x.r, "EA", http.MethodHead, path, "", nil)
	copyAuth(head.Header, x.r.Header)
	res := segment.Call(x.m.next, head, 0)
	if res.Status/100 == 2 {
		return false, 0, nil
	}
	if res.Status != http.StatusNotFound {
		return false, res.Status, nil
	}
	put := segment.NewRequest(x.r, "EA", http.MethodPut, path, "", nil)
	copyAuth(put.Header, x.r.Header)
	res = segment.Call(x.m.next, put, 0)
	if res.Status/100 == 2 {
		return true, 0, nil
	}
	return false, res.Status, nil
}
