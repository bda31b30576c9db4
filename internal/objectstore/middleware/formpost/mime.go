package formpost

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// The form is read the way Swift's iter_multipart_mime_documents reads it,
// not with mime/multipart: the first line must be the boundary, a part
// ends where "\r\n--boundary" starts, and the input may end without the
// closing delimiter. Clients that work with Swift then work here.

// errStartBoundary is Swift's MimeInvalid.
var errStartBoundary = errors.New("invalid starting boundary")

// form iterates over the parts of a multipart/form-data body.
type form struct {
	br    *bufio.Reader
	delim []byte // "\r\n--" + boundary
	last  bool   // the closing delimiter or the end of input was seen
	cur   *part
}

// readBufferSize bounds how far ahead of the upload the reader looks.
const readBufferSize = 64 << 10

// maxBoundary bounds the boundary (RFC 2046 allows 70 bytes): the
// reader must see a whole delimiter within its buffer.
const maxBoundary = 1024

func newForm(body io.Reader, boundary string) (*form, error) {
	if boundary == "" || len(boundary) > maxBoundary {
		return nil, errStartBoundary
	}
	br := bufio.NewReaderSize(body, readBufferSize)
	start := "--" + boundary
	for {
		line, err := readLineMax(br, len(start)+2)
		if line == "\r\n" {
			continue
		}
		if strings.TrimSpace(line) != start {
			if err != nil && err != io.EOF {
				return nil, err
			}
			return nil, errStartBoundary
		}
		break
	}
	return &form{br: br, delim: []byte("\r\n" + start)}, nil
}

// readLineMax reads up to and including "\n", at most max bytes, as
// Python's readline(max).
func readLineMax(br *bufio.Reader, max int) (string, error) {
	var b []byte
	for len(b) < max {
		c, err := br.ReadByte()
		if err != nil {
			return string(b), err
		}
		b = append(b, c)
		if c == '\n' {
			break
		}
	}
	return string(b), nil
}

// next returns the next part with its headers read, or nil at the end.
// What the caller left unread of the previous part is skipped.
func (f *form) next() (*part, error) {
	if f.cur != nil {
		if _, err := io.Copy(io.Discard, f.cur); err != nil {
			return nil, err
		}
		f.cur = nil
	}
	if f.last {
		return nil, nil
	}
	p := &part{f: f, header: http.Header{}}
	f.cur = p
	if err := p.readHeader(); err != nil {
		return nil, err
	}
	return p, nil
}

// part is one document of the form; reading it yields its body.
type part struct {
	f      *form
	header http.Header
	done   bool
}

func (p *part) Read(b []byte) (int, error) {
	if p.done {
		return 0, io.EOF
	}
	f := p.f
	buf, err := f.br.Peek(readBufferSize)
	if i := bytes.Index(buf, f.delim); i >= 0 {
		if i == 0 {
			p.finish()
			return 0, io.EOF
		}
		n := copy(b, buf[:i])
		_, _ = f.br.Discard(n)
		return n, nil
	}
	if err != nil {
		if err != io.EOF {
			return 0, err
		}
		if len(buf) == 0 {
			p.done, f.last = true, true
			return 0, io.EOF
		}
		n := copy(b, buf)
		_, _ = f.br.Discard(n)
		return n, nil
	}
	// No delimiter in a full buffer: all but a delimiter's length of it is
	// surely body.
	n := copy(b, buf[:len(buf)-len(f.delim)+1])
	_, _ = f.br.Discard(n)
	return n, nil
}

// finish steps over the delimiter and the two bytes after it, "--" when
// it closes the form.
func (p *part) finish() {
	f := p.f
	_, _ = f.br.Discard(len(f.delim))
	after, _ := f.br.Peek(2)
	f.last = string(after) == "--" || len(after) == 0
	_, _ = f.br.Discard(len(after))
	p.done = true
}

// readLine reads one line of the part, up to and including "\n".
func (p *part) readLine() (string, error) {
	if p.done {
		return "", nil
	}
	f := p.f
	buf, _ := f.br.Peek(readBufferSize)
	nl := bytes.IndexByte(buf, '\n')
	di := bytes.Index(buf, f.delim)
	if nl >= 0 && (di < 0 || nl < di) {
		line := string(buf[:nl+1])
		_, _ = f.br.Discard(nl + 1)
		return line, nil
	}
	b := make([]byte, readBufferSize)
	n, err := p.Read(b)
	if err == io.EOF {
		err = nil
	}
	return string(b[:n]), err
}

// readHeader reads the part's MIME headers, up to the blank line.
func (p *part) readHeader() error {
	var name string
	for {
		line, err := p.readLine()
		if err != nil {
			return err
		}
		if line == "\r\n" || line == "\n" || line == "" {
			return nil
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return nil
		}
		if (line[0] == ' ' || line[0] == '\t') && name != "" {
			vs := p.header[name]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = http.CanonicalHeaderKey(strings.TrimSpace(k))
		p.header[name] = append(p.header[name], strings.TrimSpace(v))
	}
}

// attributesRE is Swift's ATTRIBUTES_RE for Content-Disposition and
// Content-Type parameters.
var attributesRE = regexp.MustCompile(`^(\w+)=(".*?"|[^";]+)(; ?|$)`)

// parseDisposition splits `form-data; name="f"; filename="a.txt"` into
// its value and attributes, as Swift's parse_content_disposition.
func parseDisposition(header string) (string, map[string]string) {
	attrs := map[string]string{}
	value, rest, ok := strings.Cut(header, ";")
	if !ok {
		return header, attrs
	}
	value, rest = strings.TrimSpace(value), strings.TrimSpace(rest)
	for {
		m := attributesRE.FindStringSubmatch(rest)
		if m == nil || m[0] == "" {
			return value, attrs
		}
		rest = rest[len(m[0]):]
		attrs[m[1]] = strings.Trim(m[2], `"`)
	}
}
