package formpost

import (
	"io"
	"strings"
	"testing"
)

func TestParseDisposition(t *testing.T) {
	for _, tc := range []struct {
		in    string
		value string
		attrs map[string]string
	}{
		{`form-data; name="file1"; filename="a b;c.txt"`, "form-data", map[string]string{"name": "file1", "filename": "a b;c.txt"}},
		{`multipart/form-data; boundary=--boundary--`, "multipart/form-data", map[string]string{"boundary": "--boundary--"}},
		{`multipart/form-data;boundary="x y"`, "multipart/form-data", map[string]string{"boundary": "x y"}},
		{`form-data`, "form-data", map[string]string{}},
		{`form-data; =bad; name="n"`, "form-data", map[string]string{}},
	} {
		v, attrs := parseDisposition(tc.in)
		if v != tc.value || len(attrs) != len(tc.attrs) {
			t.Errorf("%q: %q %v", tc.in, v, attrs)
			continue
		}
		for k, want := range tc.attrs {
			if attrs[k] != want {
				t.Errorf("%q: %s = %q, want %q", tc.in, k, attrs[k], want)
			}
		}
	}
}

type readPart struct {
	disposition, contentType, body string
}

func readAll(t *testing.T, body, boundary string) ([]readPart, error) {
	t.Helper()
	f, err := newForm(strings.NewReader(body), boundary)
	if err != nil {
		return nil, err
	}
	var parts []readPart
	for {
		p, err := f.next()
		if err != nil {
			return nil, err
		}
		if p == nil {
			return parts, nil
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		parts = append(parts, readPart{p.header.Get("Content-Disposition"), p.header.Get("Content-Type"), string(b)})
	}
}

func TestFormParts(t *testing.T) {
	// Tempest's form: a boundary that itself starts and ends with dashes.
	body := "--" + "--boundary--" + "\r\n" +
		"Content-Disposition: form-data; name=\"redirect\"\r\n\r\n\r\n" +
		"----boundary--\r\n" +
		"Content-Disposition: form-data; name=\"max_file_size\"\r\n\r\n104857600\r\n" +
		"----boundary--\r\n" +
		"Content-Disposition: form-data;\r\n  name=\"file1\"; filename=\"testfile\"\r\nContent-Type: application/octet-stream\r\n\r\nhello\r\nworld\r\n--not-the-boundary\r\n" +
		"----boundary----\r\n"
	parts, err := readAll(t, body, "--boundary--")
	if err != nil {
		t.Fatal(err)
	}
	want := []readPart{
		{`form-data; name="redirect"`, "", ""},
		{`form-data; name="max_file_size"`, "", "104857600"},
		{`form-data; name="file1"; filename="testfile"`, "application/octet-stream", "hello\r\nworld\r\n--not-the-boundary"},
	}
	if len(parts) != len(want) {
		t.Fatalf("parts %q", parts)
	}
	for i := range want {
		if parts[i] != want[i] {
			t.Errorf("part %d = %q, want %q", i, parts[i], want[i])
		}
	}
}

func TestFormLeniencyAndErrors(t *testing.T) {
	// Blank lines before the first boundary and a missing closing
	// delimiter are fine, as in Swift.
	parts, err := readAll(t, "\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nvalue", "b")
	if err != nil || len(parts) != 1 || parts[0].body != "value" {
		t.Fatalf("%q %v", parts, err)
	}
	// A large part crosses the read buffer many times.
	big := strings.Repeat("0123456789abcdef", readBufferSize/4)
	parts, err = readAll(t, "--b\r\n\r\n"+big+"\r\n--b--", "b")
	if err != nil || len(parts) != 1 || parts[0].body != big {
		t.Fatalf("big part: %d parts, %v", len(parts), err)
	}
	long := strings.Repeat("b", maxBoundary+1)
	if _, err := readAll(t, "--"+long+"\r\n\r\nx\r\n--"+long+"--", long); err != errStartBoundary {
		t.Errorf("overlong boundary: %v", err)
	}
	for _, bad := range []string{"", "preamble\r\n--b\r\n", "--c\r\n", "--bb\r\n"} {
		if _, err := readAll(t, bad, "b"); err != errStartBoundary {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestPyTitle(t *testing.T) {
	for in, want := range map[string]string{
		"max_file_size exceeded": "Max_File_Size Exceeded",
		"a-b_c d1e":              "A-B_C D1E",
		"invalid signature":      "Invalid Signature",
		"FORM expired":           "Form Expired",
	} {
		if got := pyTitle(in); got != want {
			t.Errorf("pyTitle(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMessageMatchesPython(t *testing.T) {
	// hmac.new(b'formkey', b'/v1/AUTH_a/c/pre\nhttps://srv/x\n1024\n10\n1700000600', sha1/sha512)
	msg := Message("/v1/AUTH_a/c/pre", "https://srv/x", "1024", "10", "1700000600")
	if got := hmacHex("sha1", "formkey", msg); got != "56d46af3786ad686f8309ec4cea187d48451cd37" {
		t.Errorf("sha1 %s", got)
	}
	if got := hmacHex("sha512", "formkey", msg); got != "2751e9d67bc351ad170257653ca118edc30af19b4bdbc30886d2aac048a750ad1843d3d1cf52a2c5cec890061f5e9221d6eed530606e79eb6ea8d822701f482c" {
		t.Errorf("sha512 %s", got)
	}
}

// FuzzForm: no input makes the reader panic or loop.
func FuzzForm(f *testing.F) {
	f.Add("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b--\r\n", "b")
	f.Add("--b\r\n\r\n\r\n--b\r\n: \r\n \r\n\r\n--b", "b")
	f.Add("\r\n--b\n", "b")
	f.Fuzz(func(t *testing.T, body, boundary string) {
		fm, err := newForm(strings.NewReader(body), boundary)
		if err != nil {
			return
		}
		for i := 0; ; i++ {
			if i > len(body)+2 {
				t.Fatal("more parts than bytes")
			}
			p, err := fm.next()
			if err != nil || p == nil {
				return
			}
			parseDisposition(p.header.Get("Content-Disposition"))
			if _, err := io.ReadAll(p); err != nil {
				return
			}
		}
	})
}
