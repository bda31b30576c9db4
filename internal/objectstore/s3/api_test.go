package s3

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestStack(t *testing.T) (*stack, *client) {
	t.Helper()
	v := &fakeVerifier{secrets: map[string]string{exampleAccess: exampleSecret}}
	s := newStack(t, v)
	return s, s.client(exampleAccess, exampleSecret)
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	s, c := newTestStack(t)

	var all listAllMyBucketsResult
	_, data := c.must(200, "GET", "/", nil)
	decodeXML(t, data, &all)
	if len(all.Buckets) != 0 || all.Owner.ID != "demo:alice" {
		t.Fatalf("fresh account: %s", data)
	}
	if !strings.Contains(string(data), `<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`) {
		t.Errorf("no S3 namespace: %s", data)
	}

	resp, _ := c.must(200, "PUT", "/photos", nil)
	if resp.Header.Get("Location") != "/photos" {
		t.Errorf("Location = %q", resp.Header.Get("Location"))
	}
	c.fails(409, "BucketAlreadyOwnedByYou", "PUT", "/photos", nil)
	c.fails(400, "InvalidBucketName", "PUT", "/Photos_Old", nil)
	c.fails(400, "InvalidBucketName", "PUT", "/ab", nil)
	c.fails(400, "InvalidBucketName", "PUT", "/192.168.1.1", nil)
	c.fails(400, "InvalidLocationConstraint", "PUT", "/elsewhere", []byte(
		`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`))
	c.must(200, "PUT", "/here", []byte(
		`<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`))
	c.fails(400, "MalformedXML", "PUT", "/broken", []byte(`<CreateBucketConfiguration>`))
	c.fails(501, "NotImplemented", "PUT", "/locked", nil, "X-Amz-Bucket-Object-Lock-Enabled", "true")

	c.must(200, "HEAD", "/photos", nil)
	c.fails(404, "NoSuchBucket", "HEAD", "/nothing-here", nil)
	c.fails(404, "NoSuchBucket", "GET", "/nothing-here", nil)

	var loc locationConstraint
	_, data = c.must(200, "GET", "/photos?location", nil)
	decodeXML(t, data, &loc)
	if loc.Location != "" {
		t.Errorf("us-east-1 location = %q, want empty as S3 answers", loc.Location)
	}

	// A Swift container with a bucket-worthy name is a bucket; the
	// segments container and names S3 cannot have are not.
	s.swiftDo("PUT", "/swift-made", nil)
	s.swiftDo("PUT", "/a+segments", nil)
	s.swiftDo("PUT", "/x", nil)
	_, data = c.must(200, "GET", "/", nil)
	all = listAllMyBucketsResult{}
	decodeXML(t, data, &all)
	var names []string
	for _, b := range all.Buckets {
		names = append(names, b.Name)
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", b.CreationDate); err != nil {
			t.Errorf("CreationDate %q: %v", b.CreationDate, err)
		}
	}
	if strings.Join(names, ",") != "here,photos,swift-made" {
		t.Errorf("buckets = %v", names)
	}

	c.must(200, "PUT", "/photos/a.jpg", []byte("jpeg"))
	c.fails(409, "BucketNotEmpty", "DELETE", "/photos", nil)
	c.must(204, "DELETE", "/photos/a.jpg", nil)
	c.must(204, "DELETE", "/photos", nil)
	c.fails(404, "NoSuchBucket", "DELETE", "/photos", nil)
	if resp, _ := s.swiftDo("HEAD", "/photos", nil); resp.StatusCode != 404 {
		t.Errorf("container after DeleteBucket: %d", resp.StatusCode)
	}

	c.fails(405, "MethodNotAllowed", "DELETE", "/", nil)
	c.fails(501, "NotImplemented", "GET", "/here?policy", nil)
	c.fails(501, "NotImplemented", "PUT", "/here?versioning", nil)
}

func TestObjects(t *testing.T) {
	t.Parallel()
	s, c := newTestStack(t)
	c.must(200, "PUT", "/docs", nil)
	body := []byte("the quick brown fox jumps over the lazy dog")
	sum := md5.Sum(body)
	resp, _ := c.must(200, "PUT", "/docs/notes/fox.txt", body, "Content-Type", "text/x-fox",
		"X-Amz-Meta-Color", "brown", "Content-MD5", base64.StdEncoding.EncodeToString(sum[:]),
		"Content-Disposition", "attachment")
	etag := resp.Header.Get("ETag")
	if etag != `"`+md5Of(body)+`"` {
		t.Fatalf("PUT ETag = %q", etag)
	}

	resp, data := c.must(200, "GET", "/docs/notes/fox.txt", nil)
	if string(data) != string(body) || resp.Header.Get("ETag") != etag || resp.Header.Get("Content-Type") != "text/x-fox" ||
		resp.Header.Get("X-Amz-Meta-Color") != "brown" || resp.Header.Get("Content-Disposition") != "attachment" {
		t.Errorf("GET = %q %v", data, resp.Header)
	}
	if _, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil {
		t.Errorf("Last-Modified %q", resp.Header.Get("Last-Modified"))
	}
	resp, data = c.must(200, "HEAD", "/docs/notes/fox.txt", nil)
	if len(data) != 0 || resp.Header.Get("Content-Length") != "43" || resp.Header.Get("ETag") != etag {
		t.Errorf("HEAD = %q %v", data, resp.Header)
	}
	resp, data = c.must(206, "GET", "/docs/notes/fox.txt", nil, "Range", "bytes=4-8")
	if string(data) != "quick" || resp.Header.Get("Content-Range") != "bytes 4-8/43" {
		t.Errorf("range = %q %v", data, resp.Header)
	}
	c.fails(416, "InvalidRange", "GET", "/docs/notes/fox.txt", nil, "Range", "bytes=100-200")

	// Conditions are judged on the S3 ETag and Last-Modified.
	c.must(304, "GET", "/docs/notes/fox.txt", nil, "If-None-Match", etag)
	c.must(200, "GET", "/docs/notes/fox.txt", nil, "If-Match", etag)
	c.fails(412, "PreconditionFailed", "GET", "/docs/notes/fox.txt", nil, "If-Match", `"0000"`)
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	c.must(304, "GET", "/docs/notes/fox.txt", nil, "If-Modified-Since", future)
	c.must(200, "GET", "/docs/notes/fox.txt", nil, "If-Modified-Since", past)
	c.fails(412, "PreconditionFailed", "GET", "/docs/notes/fox.txt", nil, "If-Unmodified-Since", past)

	// response-* overrides on GET.
	resp, _ = c.must(200, "GET", "/docs/notes/fox.txt?response-content-type=application%2Fjson&response-cache-control=no-cache", nil)
	if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("overrides: %v", resp.Header)
	}

	// The same object through Swift.
	sresp, sdata := s.swiftDo("GET", "/docs/notes/fox.txt", nil)
	if sresp.StatusCode != 200 || string(sdata) != string(body) || sresp.Header.Get("X-Object-Meta-Color") != "brown" {
		t.Errorf("through Swift: %d %q %v", sresp.StatusCode, sdata, sresp.Header)
	}

	c.fails(404, "NoSuchKey", "GET", "/docs/notes/wolf.txt", nil)
	c.fails(404, "", "HEAD", "/docs/notes/wolf.txt", nil)
	c.fails(404, "NoSuchBucket", "GET", "/nodocs/notes/fox.txt", nil)
	c.fails(404, "NoSuchBucket", "PUT", "/nodocs/x", []byte("x"))

	// Keys with characters that need escaping, and with a "?".
	for _, key := range []string{"a b+c", "ünï/cödé", "what?why", "100%"} {
		target := "/docs/" + strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
		c.must(200, "PUT", target, []byte(key))
		if _, data := c.must(200, "GET", target, nil); string(data) != key {
			t.Errorf("key %q read back %q", key, data)
		}
	}

	// Bad input stores nothing.
	c.fails(400, "BadDigest", "PUT", "/docs/bad-md5", body, "Content-MD5", base64.StdEncoding.EncodeToString(make([]byte, 16)))
	c.fails(400, "InvalidDigest", "PUT", "/docs/bad-md5", body, "Content-MD5", "not-base64!")
	r := c.request("PUT", "/docs/bad-sha", body)
	r.Body = io.NopCloser(strings.NewReader("the quick brown fox jumps over the lazy cat"))
	resp, data = s.send(r)
	checkError(t, resp, data, 400, "XAmzContentSHA256Mismatch", "PUT with another body than signed")
	for _, key := range []string{"bad-md5", "bad-sha"} {
		c.fails(404, "NoSuchKey", "GET", "/docs/"+key, nil)
	}
	c.fails(400, "MetadataTooLarge", "PUT", "/docs/meta", body, "X-Amz-Meta-Big", strings.Repeat("x", 300))
	c.fails(400, "InvalidStorageClass", "PUT", "/docs/cold", body, "X-Amz-Storage-Class", "GLACIER")
	c.fails(501, "NotImplemented", "PUT", "/docs/enc", body, "X-Amz-Server-Side-Encryption", "AES256")
	c.fails(501, "NotImplemented", "PUT", "/docs/acl", body, "X-Amz-Acl", "public-read")
	c.fails(400, "KeyTooLongError", "PUT", "/docs/"+strings.Repeat("k", 1025), body)
	c.fails(501, "NotImplemented", "GET", "/docs/notes/fox.txt?tagging", nil)
	c.fails(400, "InvalidArgument", "GET", "/docs/notes/fox.txt?versionId=3", nil)

	c.must(204, "DELETE", "/docs/notes/fox.txt", nil)
	c.must(204, "DELETE", "/docs/notes/fox.txt", nil) // gone already: still 204
	c.fails(404, "NoSuchKey", "GET", "/docs/notes/fox.txt", nil)
	c.fails(404, "NoSuchBucket", "DELETE", "/nodocs/x", nil)
}

func TestUnsignedPayloadAndWrongKeys(t *testing.T) {
	t.Parallel()
	s, c := newTestStack(t)
	c.must(200, "PUT", "/bkt1", nil)
	c.unsigned = true
	c.must(200, "PUT", "/bkt1/k", []byte("unsigned body"))
	c.unsigned = false
	if _, data := c.must(200, "GET", "/bkt1/k", nil); string(data) != "unsigned body" {
		t.Errorf("read back %q", data)
	}
	bad := s.client(exampleAccess, "not-the-secret")
	bad.fails(403, "SignatureDoesNotMatch", "PUT", "/bkt1/evil", []byte("x"))
	s.client("AKIDNOBODY", exampleSecret).fails(403, "InvalidAccessKeyId", "GET", "/bkt1/k", nil)
	c.fails(404, "NoSuchKey", "GET", "/bkt1/evil", nil)

	// A request a minute too old for its signature's clock is refused.
	r := c.request("GET", "/bkt1/k", nil)
	signV4(r, exampleAccess, exampleSecret, "us-east-1", time.Now().Add(-16*time.Minute), emptySHA)
	resp, data := s.send(r)
	checkError(t, resp, data, 403, "RequestTimeTooSkewed", "old request")
}

// Bodies streamed to the storage nodes (beyond the proxy's small-object
// buffer) are checked too, and a failed check stores nothing.
func TestLargeBodiesChecked(t *testing.T) {
	t.Parallel()
	s, c := newTestStack(t)
	c.must(200, "PUT", "/large", nil)
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	other := append([]byte(nil), body...)
	other[len(other)-1] = 'X'

	r := c.request("PUT", "/large/sha", body)
	r.Body = io.NopCloser(bytes.NewReader(other))
	resp, data := s.send(r)
	checkError(t, resp, data, 400, "XAmzContentSHA256Mismatch", "1 MiB PUT with another body than signed")

	sum := md5.Sum(body)
	c.unsigned = true
	r = c.request("PUT", "/large/md5", other, "Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	resp, data = s.send(r)
	checkError(t, resp, data, 400, "BadDigest", "1 MiB PUT with a wrong Content-MD5")

	// aws-chunked with a trailing checksum, as SDKs send over TLS.
	crc := crc32.ChecksumIEEE(body)
	var chunked bytes.Buffer
	for off := 0; off < len(body); off += 300 << 10 {
		end := min(off+300<<10, len(body))
		fmt.Fprintf(&chunked, "%x\r\n%s\r\n", end-off, body[off:end])
	}
	fmt.Fprintf(&chunked, "0\r\nx-amz-checksum-crc32:%s\r\n\r\n", b64BE(uint64(crc), 4))
	c.unsigned = false
	r = c.request("PUT", "/large/chunked", nil, "Content-Encoding", "aws-chunked",
		"X-Amz-Decoded-Content-Length", strconv.Itoa(len(body)), "X-Amz-Trailer", "x-amz-checksum-crc32")
	r.Header.Del("Authorization")
	signV4(r, exampleAccess, exampleSecret, "us-east-1", time.Now(), "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(chunked.Bytes())), int64(chunked.Len())
	if resp, data := s.send(r); resp.StatusCode != 200 {
		t.Fatalf("aws-chunked PUT = %d %s", resp.StatusCode, data)
	}
	resp, data = c.must(200, "GET", "/large/chunked", nil)
	if !bytes.Equal(data, body) || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("aws-chunked object: %d bytes, Content-Encoding %q", len(data), resp.Header.Get("Content-Encoding"))
	}

	for _, key := range []string{"sha", "md5"} {
		c.fails(404, "NoSuchKey", "GET", "/large/"+key, nil)
		if resp, _ := s.swiftDo("HEAD", "/large/"+key, nil); resp.StatusCode != 404 {
			t.Errorf("%s through Swift: %d", key, resp.StatusCode)
		}
	}
}

func TestPresignedURL(t *testing.T) {
	t.Parallel()
	s, c := newTestStack(t)
	c.must(200, "PUT", "/share", nil)
	c.must(200, "PUT", "/share/file.txt", []byte("shared"))

	presign := func(method, path string, expires time.Duration, at time.Time) string {
		date := at.UTC().Format(amzDateForm)
		q := url.Values{"X-Amz-Algorithm": {algV4}, "X-Amz-Credential": {exampleAccess + "/" + date[:8] + "/us-east-1/s3/aws4_request"},
			"X-Amz-Date": {date}, "X-Amz-Expires": {strconv.Itoa(int(expires / time.Second))},
			"X-Amz-SignedHeaders": {"host"}}
		u, _ := url.Parse(s.url + path + "?" + q.Encode())
		r, _ := http.NewRequest(method, u.String(), nil)
		sv := &sigV4{access: exampleAccess, scopeDate: date[:8], region: "us-east-1", service: "s3", term: "aws4_request",
			signedHeaders: []string{"host"}, presigned: true}
		canonical, _ := sv.canonicalRequest(r, unsignedBody)
		k := []byte("AWS4" + exampleSecret)
		for _, p := range []string{date[:8], "us-east-1", "s3", "aws4_request"} {
			k = hmacSum(sha256.New, k, p)
		}
		return u.String() + "&X-Amz-Signature=" + hex.EncodeToString(hmacSum(sha256.New, k, sv.stringToSign(date, canonical)))
	}
	get := func(u string) (*http.Response, []byte) {
		r, _ := http.NewRequest("GET", u, nil)
		return s.send(r)
	}
	if resp, data := get(presign("GET", "/share/file.txt", time.Hour, time.Now())); resp.StatusCode != 200 || string(data) != "shared" {
		t.Fatalf("presigned GET = %d %s", resp.StatusCode, data)
	}
	resp, data := get(presign("GET", "/share/file.txt", time.Minute, time.Now().Add(-2*time.Minute)))
	checkError(t, resp, data, 403, "AccessDenied", "expired presigned GET")
	u := presign("GET", "/share/file.txt", time.Hour, time.Now())
	resp, data = get(strings.Replace(u, "file.txt", "other.txt", 1))
	checkError(t, resp, data, 403, "SignatureDoesNotMatch", "presigned URL for another key")

	// A presigned PUT takes any body (UNSIGNED-PAYLOAD).
	r, _ := http.NewRequest("PUT", presign("PUT", "/share/up.txt", time.Hour, time.Now()), strings.NewReader("uploaded"))
	if resp, data := s.send(r); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT = %d %s", resp.StatusCode, data)
	}
	if _, data := c.must(200, "GET", "/share/up.txt", nil); string(data) != "uploaded" {
		t.Errorf("presigned PUT stored %q", data)
	}
}
