package segment

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRanges(t *testing.T) {
	for _, tc := range []struct {
		header string
		length int64
		ok     bool
		want   []Span
	}{
		{"", 10, false, nil},
		{"bytes=", 10, false, nil},
		{"items=0-1", 10, false, nil},
		{"bytes=5-3", 10, false, nil},
		{"bytes=-", 10, false, nil},
		{"bytes=45", 10, false, nil},
		{"bytes=a-3", 10, false, nil},
		{"bytes=1--3", 10, false, nil},
		{"bytes=0-1,x", 10, false, nil},
		{"bytes=0-0", 10, true, []Span{{0, 0}}},
		{"Bytes = 2 - 4", 10, true, []Span{{2, 4}}},
		{"bytes=5-", 10, true, []Span{{5, 9}}},
		{"bytes=5-100", 10, true, []Span{{5, 9}}},
		{"bytes=-3", 10, true, []Span{{7, 9}}},
		{"bytes=-30", 10, true, []Span{{0, 9}}},
		{"bytes=-0", 10, true, []Span{}},
		{"bytes=10-", 10, true, []Span{}},
		{"bytes=10-20,0-1", 10, true, []Span{{0, 1}}},
		{"bytes=0-1,4-5", 10, true, []Span{{0, 1}, {4, 5}}},
		// More than two overlaps, or many ranges out of order: refused.
		{"bytes=0-5,1-6,6-7", 10, true, []Span{{0, 5}, {1, 6}, {6, 7}}},
		{"bytes=0-5,1-6,2-7", 10, true, []Span{}},
		{"bytes=0-5,1-6,8-9", 10, true, []Span{{0, 5}, {1, 6}, {8, 9}}},
		{"bytes=9-9,8-8,7-7,6-6,5-5,4-4,3-3,2-2", 10, true, []Span{}},
		{"bytes=9-9,8-8,7-7,6-6,5-5,4-4,3-3", 10, true, []Span{{9, 9}, {8, 8}, {7, 7}, {6, 6}, {5, 5}, {4, 4}, {3, 3}}},
		{"bytes=" + strings.Repeat("0-0,", 50) + "0-0", 10, true, []Span{}},
	} {
		got, ok := Ranges(tc.header, tc.length)
		if ok != tc.ok || !cmp.Equal(got, tc.want) {
			t.Errorf("Ranges(%q, %d) = %v, %v; want %v, %v", tc.header, tc.length, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCheck(t *testing.T) {
	const lm = "Tue, 14 Nov 2023 22:13:21 GMT"
	for _, tc := range []struct {
		hdr  []string
		want int
	}{
		{nil, 0},
		{[]string{"If-None-Match", `"abc"`}, 304},
		{[]string{"If-None-Match", `"x", abc`}, 304},
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-None-Match", `"x"`}, 0},
		{[]string{"If-Match", `"abc"`}, 0},
		{[]string{"If-Match", "*"}, 0},
		{[]string{"If-Match", `"x"`}, 412},
		{[]string{"If-Modified-Since", lm}, 304},
		{[]string{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}, 0},
		{[]string{"If-Modified-Since", "garbage"}, 0},
		{[]string{"If-Unmodified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}, 412},
		{[]string{"If-Unmodified-Since", lm}, 0},
		// swob's order: If-None-Match before If-Match.
		{[]string{"If-None-Match", `"abc"`, "If-Match", `"x"`}, 304},
	} {
		h := http.Header{}
		for i := 0; i < len(tc.hdr); i += 2 {
			h.Set(tc.hdr[i], tc.hdr[i+1])
		}
		if got := Check(h, "abc", lm); got != tc.want {
			t.Errorf("Check(%v) = %d, want %d", tc.hdr, got, tc.want)
		}
	}
	if got := Check(http.Header{"If-Match": {`"x"`}}, "", ""); got != 0 {
		t.Errorf("unknown etag: %d", got)
	}
}

func TestMultipartLength(t *testing.T) {
	spans := []Span{{0, 1}, {5, 9}}
	var b strings.Builder
	data := "0123456789"
	rd := strings.NewReader(data[0:2] + data[5:10])
	if err := writeMultipart(&b, rd, spans, 10, "b0undary", "text/plain"); err != nil {
		t.Fatal(err)
	}
	if n := multipartLength(spans, 10, "b0undary", "text/plain"); n != int64(b.Len()) {
		t.Errorf("multipartLength = %d, body is %d bytes", n, b.Len())
	}
	want := "--b0undary\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01\r\n" +
		"--b0undary\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-9/10\r\n\r\n56789\r\n--b0undary--"
	if b.String() != want {
		t.Errorf("body = %q", b.String())
	}
	if err := writeMultipart(&b, strings.NewReader("01"), spans, 10, "b", "t"); err == nil {
		t.Error("short content not reported")
	}
	_ = fmt.Sprint
}
