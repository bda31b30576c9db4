package s3

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func sha256Hex(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func b64BE(v uint64, size int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return base64.StdEncoding.EncodeToString(b[8-size:])
}

// readPayload reads a checked body the way the proxy would, returning
// what it got before the error.
func readPayload(t *testing.T, body string, hdr map[string]string, contentSHA string, checkMD5 bool) (string, *Error) {
	t.Helper()
	r := httptest.NewRequest("PUT", "/b/k", strings.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	if v, ok := hdr["Content-Length"]; ok {
		r.ContentLength, _ = strconv.ParseInt(v, 10, 64)
	}
	pl, e := newPayload(r, contentSHA, checkMD5)
	if e != nil {
		return "", e
	}
	var got []byte
	buf := make([]byte, 3) // small reads, as a slow client's
	for {
		n, err := pl.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return string(got), nil
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("read error %v is no *Error", err)
			}
			if pl.Err() != e {
				t.Errorf("Err() = %v, read error %v", pl.Err(), e)
			}
			return string(got), e
		}
	}
}

func TestPayloadSHA256(t *testing.T) {
	t.Parallel()
	const body = "hello world"
	got, e := readPayload(t, body, nil, sha256Hex(body), false)
	if e != nil || got != body {
		t.Fatalf("good hash: %q %v", got, e)
	}
	got, e = readPayload(t, body, nil, sha256Hex("hello there"), false)
	if e == nil || e.Code != "XAmzContentSHA256Mismatch" {
		t.Fatalf("wrong hash: %v", e)
	}
	if len(got) >= len(body) {
		t.Errorf("the whole body (%q) was handed on before the mismatch showed", got)
	}
	// Shorter than its Content-Length.
	if _, e := readPayload(t, "short", map[string]string{"Content-Length": "10"}, unsignedBody, false); e == nil || e.Code != "IncompleteBody" {
		t.Errorf("short body: %v", e)
	}
	if _, e := readPayload(t, body, nil, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", false); e == nil || e.Code != "NotImplemented" {
		t.Errorf("signed chunks: %v", e)
	}
}

func TestPayloadChecksums(t *testing.T) {
	t.Parallel()
	const check = "123456789" // the CRC catalogue's check input
	md5sum := md5.Sum([]byte(check))
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		md5    bool
		code   string
		reject bool // refused before reading
	}{
		{"crc32", map[string]string{"X-Amz-Checksum-Crc32": b64BE(0xcbf43926, 4)}, false, "", false},
		{"crc32c", map[string]string{"X-Amz-Checksum-Crc32c": b64BE(0xe3069283, 4)}, false, "", false},
		{"crc64nvme", map[string]string{"X-Amz-Checksum-Crc64nvme": b64BE(0xae8b14860a799888, 8)}, false, "", false},
		{"sha256", map[string]string{"X-Amz-Checksum-Sha256": base64.StdEncoding.EncodeToString(hexBytes(sha256Hex(check)))}, false, "", false},
		{"wrong crc32", map[string]string{"X-Amz-Checksum-Crc32": b64BE(0xcbf43927, 4)}, false, "BadDigest", false},
		{"crc32 of the wrong size", map[string]string{"X-Amz-Checksum-Crc32": b64BE(1, 8)}, false, "InvalidRequest", true},
		{"unknown algorithm", map[string]string{"X-Amz-Checksum-Md4": "AAAA"}, false, "InvalidRequest", true},
		{"two algorithms", map[string]string{"X-Amz-Checksum-Crc32": b64BE(0xcbf43926, 4),
			"X-Amz-Checksum-Crc32c": b64BE(0xe3069283, 4)}, false, "InvalidRequest", true},
		{"content-md5", map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(md5sum[:])}, true, "", false},
		{"wrong content-md5", map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, true, "BadDigest", false},
		{"content-md5 not base64", map[string]string{"Content-MD5": "zz"}, true, "InvalidDigest", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, e := readPayload(t, check, tc.hdr, unsignedBody, tc.md5)
			switch {
			case tc.code == "" && (e != nil || got != check):
				t.Fatalf("got %q %v", got, e)
			case tc.code != "" && (e == nil || e.Code != tc.code):
				t.Fatalf("got %v, want %s", e, tc.code)
			case tc.code != "" && !tc.reject && len(got) == len(check):
				t.Errorf("whole body handed on before %s", tc.code)
			}
		})
	}
}

func hexBytes(s string) []byte { b, _ := hex.DecodeString(s); return b }

func TestPayloadAWSChunkedTrailer(t *testing.T) {
	t.Parallel()
	crc := b64BE(uint64(crc32.ChecksumIEEE([]byte("hello world"))), 4)
	hdr := map[string]string{"X-Amz-Decoded-Content-Length": "11", "X-Amz-Trailer": "x-amz-checksum-crc32",
		"Content-Encoding": "aws-chunked"}
	const stream = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	for _, tc := range []struct {
		name, body, code string
	}{
		{"good", "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:" + crc + "\r\n\r\n", ""},
		{"chunk extensions", "5;chunk-ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:" + crc + "\r\n\r\n", ""},
		{"wrong checksum", "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:" + b64BE(1, 4) + "\r\n\r\n", "BadDigest"},
		{"no trailer", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "MalformedTrailerError"},
		{"bad trailer value", "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:!!\r\n\r\n", "InvalidRequest"},
		{"more than declared", "5\r\nhello\r\n7\r\n world!\r\n0\r\nx-amz-checksum-crc32:" + crc + "\r\n\r\n", "IncompleteBody"},
		{"less than declared", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + crc + "\r\n\r\n", "IncompleteBody"},
		{"cut off", "5\r\nhello\r\n6\r\n wo", "IncompleteBody"},
		{"bad chunk size", "zz\r\nhello\r\n", "IncompleteBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, e := readPayload(t, tc.body, hdr, stream, false)
			switch {
			case tc.code == "" && (e != nil || got != "hello world"):
				t.Fatalf("got %q %v", got, e)
			case tc.code != "" && (e == nil || e.Code != tc.code):
				t.Fatalf("got %q %v, want %s", got, e, tc.code)
			case tc.code != "" && got == "hello world":
				t.Errorf("whole body handed on before %s", tc.code)
			}
		})
	}
	noLen := map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}
	if _, e := readPayload(t, "0\r\n\r\n", noLen, stream, false); e == nil || e.Code != "MissingContentLength" {
		t.Errorf("no decoded length: %v", e)
	}
}
