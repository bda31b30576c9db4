package s3

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// A request body is checked while it streams to the storage nodes: against
// the signed x-amz-content-sha256, an x-amz-checksum-* header or trailer,
// and (for bodies this package reads itself) Content-MD5. The check runs
// when the last byte arrives and, if it fails, that last read is withheld
// and an error returned instead, so the object is never stored whole.

// payload is a request body of known decoded length with its checks.
type payload struct {
	src      io.Reader
	chunked  *awsChunked // when the body is aws-chunked
	n, read  int64
	sha      hash.Hash // sha256 to compare with wantSHA
	wantSHA  string
	md5      hash.Hash
	wantMD5  []byte
	sum      hash.Hash // x-amz-checksum-* algorithm
	sumName  string    // its header or trailer name
	wantSum  string    // base64, "" when it comes in a trailer
	finished bool

	mu  sync.Mutex
	err *Error
}

// Err is the check that failed, nil if none did (yet).
func (p *payload) Err() *Error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *payload) fail(e *Error) (int, error) {
	p.mu.Lock()
	p.err = e
	p.mu.Unlock()
	return 0, e
}

// Len is the decoded length.
func (p *payload) Len() int64 { return p.n }

func (p *payload) Read(b []byte) (int, error) {
	if e := p.Err(); e != nil {
		return 0, e
	}
	if p.read >= p.n {
		if !p.finished {
			if e := p.finish(); e != nil {
				return p.fail(e)
			}
		}
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.read {
		b = b[:p.n-p.read]
	}
	k, err := p.src.Read(b)
	if k > 0 {
		for _, h := range []hash.Hash{p.sha, p.md5, p.sum} {
			if h != nil {
				h.Write(b[:k])
			}
		}
		p.read += int64(k)
	}
	if p.read == p.n {
		if e := p.finish(); e != nil {
			return p.fail(e)
		}
		return k, nil
	}
	switch {
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return p.fail(errIncompleteBody)
	case err != nil:
		var e *Error
		if errors.As(err, &e) {
			return p.fail(e)
		}
		return p.fail(errRequestTimeout.with("Cause", "client read failed"))
	}
	return k, nil
}

// finish runs the checks once the whole payload is in.
func (p *payload) finish() *Error {
	p.finished = true
	if p.chunked != nil {
		if e := p.chunked.end(); e != nil {
			return e
		}
		if p.wantSum == "" && p.sumName != "" {
			v, ok := p.chunked.trailers[p.sumName]
			if !ok {
				return errMalformedTrailer
			}
			if !validChecksum(p.sumName, v) {
				return errInvalidRequest.msg("Value for " + p.sumName + " trailing header is invalid.")
			}
			p.wantSum = v
		}
	}
	if p.sha != nil {
		got := hex.EncodeToString(p.sha.Sum(nil))
		if !strings.EqualFold(got, p.wantSHA) {
			return errSHA256Mismatch.with("ClientComputedContentSHA256", p.wantSHA, "S3ComputedContentSHA256", got)
		}
	}
	if p.md5 != nil && string(p.md5.Sum(nil)) != string(p.wantMD5) {
		return errBadDigest
	}
	if p.sum != nil {
		if got := base64.StdEncoding.EncodeToString(p.sum.Sum(nil)); got != p.wantSum {
			alg := strings.ToUpper(strings.TrimPrefix(p.sumName, "x-amz-checksum-"))
			return errBadDigest.msg("The " + alg + " you specified did not match the calculated checksum.")
		}
	}
	return nil
}

var errMalformedTrailer = s3err(400, "MalformedTrailerError", "The request contained trailing data that was not well-formed or did not conform to our published schema.")

// checksums are the x-amz-checksum-* algorithms and their digest sizes.
var checksums = map[string]struct {
	size int
	new  func() hash.Hash
}{
	"x-amz-checksum-crc32":     {4, func() hash.Hash { return crc32.NewIEEE() }},
	"x-amz-checksum-crc32c":    {4, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	"x-amz-checksum-crc64nvme": {8, func() hash.Hash { return crc64.New(crc64NVME) }},
	"x-amz-checksum-sha1":      {20, sha1.New},
	"x-amz-checksum-sha256":    {32, sha256.New},
}

// crc64NVME is CRC-64/NVME (polynomial 0xad93d23594c93659, reflected, as
// crc64's tables are).
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

func validChecksum(name, b64 string) bool {
	c, ok := checksums[name]
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	return err == nil && len(b) == c.size
}

// newPayload sets up the checks of r's body from its headers; contentSHA is
// the signed payload hash ("" for SigV2), checkMD5 asks for Content-MD5 to
// be checked here rather than by the storage nodes.
func newPayload(r *http.Request, contentSHA string, checkMD5 bool) (*payload, *Error) {
	p := &payload{src: r.Body, n: r.ContentLength}
	if r.Body == nil || r.Body == http.NoBody {
		p.src, p.n = strings.NewReader(""), 0
	}
	switch {
	case contentSHA == "" || contentSHA == unsignedBody:
	case isSHA256Hex(contentSHA):
		p.sha, p.wantSHA = sha256.New(), strings.ToLower(contentSHA)
	case contentSHA == "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
		dl, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || dl < 0 {
			return nil, errMissingLength
		}
		p.chunked = newAWSChunked(p.src)
		p.src, p.n = p.chunked, dl
	case strings.HasPrefix(contentSHA, "STREAMING-"):
		// Chunk signatures need the signing key, which identity keeps.
		return nil, notImplemented("Transferring payloads in multiple chunks using aws-chunked with chunk signatures (" + contentSHA + ")")
	}
	if p.n < 0 {
		return nil, errMissingLength
	}
	if v := r.Header.Get("Content-MD5"); v != "" && checkMD5 {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != md5.Size {
			return nil, errInvalidDigest
		}
		p.md5, p.wantMD5 = md5.New(), b
	}
	if e := p.setChecksum(r); e != nil {
		return nil, e
	}
	return p, nil
}

// setChecksum reads x-amz-checksum-<alg> or an x-amz-trailer naming one.
func (p *payload) setChecksum(r *http.Request) *Error {
	var found []string
	for name := range r.Header {
		n := strings.ToLower(name)
		if strings.HasPrefix(n, "x-amz-checksum-") && n != "x-amz-checksum-algorithm" && n != "x-amz-checksum-type" {
			if _, ok := checksums[n]; !ok {
				return errInvalidRequest.msg("The algorithm type you specified in x-amz-checksum- header is invalid.")
			}
			found = append(found, n)
		}
	}
	trailer := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer")))
	if trailer != "" {
		if _, ok := checksums[trailer]; !ok {
			return errInvalidRequest.msg("The value specified in the x-amz-trailer header is not supported")
		}
		if p.chunked == nil {
			return errMalformedTrailer
		}
		found = append(found, trailer)
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
	default:
		return errInvalidRequest.msg("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	p.sumName = found[0]
	p.sum = checksums[p.sumName].new()
	if trailer == "" {
		p.wantSum = r.Header.Get(p.sumName)
		if !validChecksum(p.sumName, p.wantSum) {
			return errInvalidRequest.msg("Value for " + p.sumName + " header is invalid.")
		}
	}
	return nil
}

// awsChunked decodes S3's aws-chunked body: "<hex size>[;ext]\r\n<data>\r\n"
// chunks, a zero-size chunk, then trailer lines and an empty line.
type awsChunked struct {
	br       *bufio.Reader
	left     int64 // bytes left in the current chunk
	started  bool
	done     bool
	trailers map[string]string
}

func newAWSChunked(r io.Reader) *awsChunked {
	return &awsChunked{br: bufio.NewReaderSize(r, 16<<10), trailers: map[string]string{}}
}

const maxChunkLine = 4096

func (c *awsChunked) line() (string, *Error) {
	var b []byte
	for {
		part, isPrefix, err := c.br.ReadLine()
		if err != nil {
			return "", errIncompleteBody
		}
		b = append(b, part...)
		if len(b) > maxChunkLine {
			return "", errIncompleteBody
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func (c *awsChunked) Read(b []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		if c.started {
			if l, e := c.line(); e != nil || l != "" {
				return 0, errIncompleteBody
			}
		}
		c.started = true
		l, e := c.line()
		if e != nil {
			return 0, e
		}
		sz, _, _ := strings.Cut(l, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(sz), 16, 64)
		if err != nil || n < 0 {
			return 0, errIncompleteBody
		}
		if n == 0 {
			c.done = true
			if e := c.readTrailers(); e != nil {
				return 0, e
			}
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	k, err := c.br.Read(b)
	c.left -= int64(k)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

func (c *awsChunked) readTrailers() *Error {
	for {
		l, e := c.line()
		if e != nil {
			// Some senders end the body right after the last chunk.
			return nil
		}
		if l == "" {
			return nil
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return errMalformedTrailer
		}
		c.trailers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
}

// end is called once the decoded length is in: the body must end there.
func (c *awsChunked) end() *Error {
	if c.done {
		return nil
	}
	var one [1]byte
	k, err := c.Read(one[:])
	if k > 0 || !c.done || (err != nil && err != io.EOF) {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return errIncompleteBody
	}
	return nil
}

// readAll reads a whole small body and runs its checks; a body longer than
// limit is tooBig.
func readAll(pl *payload, limit int64, tooBig *Error) ([]byte, error) {
	if pl.Len() > limit {
		return nil, tooBig
	}
	data, err := io.ReadAll(pl)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, err
	}
	return data, nil
}
