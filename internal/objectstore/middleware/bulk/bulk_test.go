package bulk

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBody(t *testing.T) {
	fields := []Field{{"Response Status", "400 Bad Request"}, {"Response Body", "a <b> & \"c\""}, {"Number Deleted", 2}}
	failures := []Failure{{"/c/caf%C3%A9", "409 Conflict"}, {"/c/<x>", "Not an SLO manifest"}}
	for format, want := range map[string]string{
		"application/json": `{"Response Status": "400 Bad Request", "Response Body": "a <b> & \"c\"", "Number Deleted": 2, ` +
			`"Errors": [["/c/caf%C3%A9", "409 Conflict"], ["/c/<x>", "Not an SLO manifest"]]}`,
		"text/plain": "Number Deleted: 2\nResponse Body: a <b> & \"c\"\nResponse Status: 400 Bad Request\nErrors:\n" +
			"/c/caf%C3%A9, 409 Conflict\n/c/<x>, Not an SLO manifest\n",
		"": "Number Deleted: 2\nResponse Body: a <b> & \"c\"\nResponse Status: 400 Bad Request\nErrors:\n" +
			"/c/caf%C3%A9, 409 Conflict\n/c/<x>, Not an SLO manifest\n",
		"text/xml": "<delete>\n<number_deleted>2</number_deleted>\n<response_body>a &lt;b&gt; &amp; \"c\"</response_body>\n" +
			"<response_status>400 Bad Request</response_status>\n<errors>\n" +
			"<object><name>/c/caf%C3%A9</name><status>409 Conflict</status></object>\n" +
			"<object><name>/c/&lt;x&gt;</name><status>Not an SLO manifest</status></object>\n</errors>\n</delete>\n",
	} {
		if got := string(Body(format, fields, failures, "delete")); got != want {
			t.Errorf("%q:\n%s\nwant\n%s", format, got, want)
		}
	}
	if got := QuoteJSON("é\U0001F600\x01\t"); got != `"\u00e9\ud83d\ude00\u0001\t"` {
		t.Errorf("QuoteJSON = %s", got)
	}
}

func TestBestMatch(t *testing.T) {
	for _, tc := range []struct {
		accept, want string
		ok           bool
	}{
		{"", "text/plain", true},
		{"application/json", "application/json", true},
		{"text/*", "text/plain", true},
		{"*/*", "text/plain", true},
		{"text/xml;q=0.5, application/json", "application/json", true},
		{"*/*;q=0.9, application/xml", "application/xml", true},
		{"image/png", "", true},
		{"application/json;q=1;q=2", "", false},
		{"garbage", "", false},
	} {
		got, ok := BestMatch(tc.accept, Formats)
		if got != tc.want || ok != tc.ok {
			t.Errorf("BestMatch(%q) = %q, %v; want %q, %v", tc.accept, got, ok, tc.want, tc.ok)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("/c/a b+é~_.-"); got != "/c/a%20b%2B%C3%A9~_.-" {
		t.Errorf("Quote = %q", got)
	}
	for in, want := range map[string]string{"a%20b": "a b", "%zz%2": "%zz%2", "a+b": "a+b", "%C3%A9": "é", "%": "%"} {
		if got := Unquote(in); got != want {
			t.Errorf("Unquote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDeletes(t *testing.T) {
	items, err := parseDeletes(strings.NewReader(" /c/a%20b \r\n\n/c\n/c/x"), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{Name: "/c/a b"}, {Name: ""}, {Name: "/c"}, {Name: "/c/x"}}
	if d := cmp.Diff(want, items); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
	var e *Error
	if _, err := parseDeletes(strings.NewReader("a\nb\nc\n"), 2); !errors.As(err, &e) || e.Status != 413 ||
		e.Body != "Maximum Bulk Deletes: 2 per request" {
		t.Errorf("too many: %v", err)
	}
	if _, err := parseDeletes(strings.NewReader(strings.Repeat("x", 2*maxPathLength+2)), 10); !errors.As(err, &e) || e.Body != "Invalid File Name" {
		t.Errorf("long line: %v", err)
	}
	if items, err := parseDeletes(strings.NewReader(strings.Repeat("x", 2*maxPathLength)), 10); err != nil || len(items) != 1 {
		t.Errorf("longest line: %v", err)
	}
}

func TestObjectPath(t *testing.T) {
	for _, tc := range []struct {
		base, name, want string
		ok               bool
	}{
		{"", "c/o", "c/o", true},
		{"", "./c/o", "c/o", true},
		{"", "//c/o", "c/o", true},
		{"", "top", "top", false},
		{"", "../etc/passwd", "../etc/passwd", true}, // a container named "..": refused by the core
		{"c", "top", "c/top", true},
		{"c/pre", "./d/e", "c/pre/d/e", true},
	} {
		got, ok := objectPath(tc.base, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("objectPath(%q, %q) = %q, %v", tc.base, tc.name, got, ok)
		}
	}
	for key, want := range map[string]string{
		"SCHILY.xattr.user.mime_type":       "Content-Type",
		"LIBARCHIVE.xattr.user.meta.lunch":  "X-Object-Meta-lunch",
		"SCHILY.xattr.user.meta.":           "",
		"SCHILY.xattr.user.stuff":           "",
		"SCHILY.xattr.security.selinux":     "",
		"LIBARCHIVE.xattr.user.mime_type.x": "",
	} {
		if got := paxHeader(key); got != want {
			t.Errorf("paxHeader(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestProgressHeartbeat: a slow answer starts at once with whitespace and
// ends with the body after a blank line.
func TestProgressHeartbeat(t *testing.T) {
	w := httptest.NewRecorder()
	p := StartProgress(w, "application/xml", http.StatusOK, 5*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	p.Finish([]byte("<delete/>"))
	body := w.Body.String()
	if !strings.HasPrefix(body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n ") || !strings.HasSuffix(body, " \r\n\r\n<delete/>") {
		t.Errorf("body = %q", body)
	}
	w = httptest.NewRecorder()
	p = StartProgress(w, "text/plain", http.StatusOK, time.Hour)
	p.Finish([]byte("done"))
	if w.Body.String() != "done" || w.Header().Get("Content-Length") != "4" {
		t.Errorf("fast answer = %q %v", w.Body.String(), w.Header())
	}
}
