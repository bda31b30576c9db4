package dbserver

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestContainerCreateHeadAndList(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "AUTH_a", "box")
	c.must(http.StatusNotFound, 0, "HEAD", cp)
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1))
	c.must(http.StatusAccepted, 0, "PUT", cp, "X-Timestamp", tsAt(2))

	h := c.must(http.StatusNoContent, 0, "HEAD", cp).header
	for k, want := range map[string]string{
		"X-Container-Object-Count": "0", "X-Container-Bytes-Used": "0",
		"X-Timestamp": tsAt(1), "X-Put-Timestamp": tsAt(2), "X-Backend-Timestamp": tsAt(1),
		"X-Backend-Put-Timestamp": tsAt(2), "X-Backend-Delete-Timestamp": "0000000000.00000",
		"X-Backend-Status-Changed-At": tsAt(1),
	} {
		if got := h.Get(k); got != want {
			t.Errorf("HEAD %s = %q, want %q", k, got, want)
		}
	}
	if body := c.must(http.StatusOK, 0, "GET", cp).body; string(body) != "[]" {
		t.Fatalf("empty listing = %s", body)
	}

	for n, name := range []string{"a", "b/1", "b/2", "b/c/3", "c", "d/", "d/x", "e"} {
		c.putObject(0, "AUTH_a", "box", name, 10+n, n, "etag"+name)
	}
	for _, tc := range []struct{ query, want string }{
		{"", "a b/1 b/2 b/c/3 c d/ d/x e"},
		{"prefix=b/", "b/1 b/2 b/c/3"},
		{"delimiter=/", "a dir:b/ c dir:d/ e"},
		{"prefix=b/&delimiter=/", "b/1 b/2 dir:b/c/"},
		{"marker=b/2", "b/c/3 c d/ d/x e"},
		{"end_marker=c", "a b/1 b/2 b/c/3"},
		{"marker=a&end_marker=c&limit=2", "b/1 b/2"},
		{"limit=3", "a b/1 b/2"},
		{"limit=0", ""},
		{"limit=nonsense", "a b/1 b/2 b/c/3 c d/ d/x e"},
		{"reverse=true", "e d/x d/ c b/c/3 b/2 b/1 a"},
		{"reverse=on&limit=2", "e d/x"},
		{"reverse=true&marker=c", "b/c/3 b/2 b/1 a"},
		{"reverse=true&end_marker=c", "e d/x d/"},
		{"reverse=true&delimiter=/", "e dir:d/ c dir:b/ a"},
		{"delimiter=/&marker=b/", "c dir:d/ e"},
		{"path=b", "b/1 b/2"},
		{"path=d", "d/x"},
		{"path=", "a c d/ e"}, // as Swift: "d/" has nothing after its slash
		{"prefix=zzz", ""},
	} {
		got := strings.Join(c.names(0, cp, tc.query), " ")
		if got != tc.want {
			t.Errorf("GET ?%s = %q, want %q", tc.query, got, tc.want)
		}
	}

	// Every field of an entry, in Swift's format.
	var entries []map[string]any
	if err := json.Unmarshal(c.must(http.StatusOK, 0, "GET", cp+"?prefix=b/1").body, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("entries %v", entries)
	}
	e := entries[0]
	if e["name"] != "b/1" || e["hash"] != "etagb/1" || e["bytes"] != 1.0 || e["content_type"] != "text/plain" {
		t.Errorf("entry = %v", e)
	}
	if lm, _ := e["last_modified"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$`).MatchString(lm) {
		t.Errorf("last_modified = %q", lm)
	}

	// Limits as Swift's.
	r := c.must(http.StatusPreconditionFailed, 0, "GET", cp+"?limit=10001")
	if !strings.Contains(string(r.body), "Maximum limit is 10000") {
		t.Errorf("limit over max: %s", r.body)
	}
	c.must(http.StatusOK, 0, "GET", cp+"?limit=10000")
	c.must(http.StatusBadRequest, 0, "GET", cp+"?prefix=%FF")

	// Names in the reserved namespace are listed only to those who ask.
	c.putObject(0, "AUTH_a", "box", "\x00hidden", 30, 1, "h")
	if got := c.names(0, cp, "prefix=a"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("listing shows %v", got)
	}
	r = c.must(http.StatusOK, 0, "GET", cp+"?limit=1", "X-Backend-Allow-Reserved-Names", "true")
	if !strings.Contains(string(r.body), `"\u0000hidden"`) {
		t.Errorf("reserved listing: %s", r.body)
	}
}

func TestListingManyPagesWithDelimiter(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "a", "c")
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1))
	var want []string
	for i := range 30 {
		dir := string(rune('a'+i%5)) + "/"
		name := dir + strings.Repeat("x", i)
		c.putObject(0, "a", "c", name, 2+i, 1, "e")
		if i < 5 {
			want = append(want, "dir:"+dir)
		}
	}
	c.putObject(0, "a", "c", "z", 100, 1, "e")
	want = append(want, "z")
	if got := c.names(0, cp, "delimiter=/"); !slices.Equal(got, want) {
		t.Fatalf("delimited listing = %v, want %v", got, want)
	}
	if got := c.names(0, cp, "delimiter=/&limit=2"); !slices.Equal(got, want[:2]) {
		t.Fatalf("limited delimited listing = %v", got)
	}
	// Paging by marker through rolled-up entries, as clients do.
	var paged []string
	marker := ""
	for {
		page := c.names(0, cp, "delimiter=/&limit=2&marker="+marker)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		marker = strings.TrimPrefix(page[len(page)-1], "dir:")
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged = %v, want %v", paged, want)
	}
}

func TestObjectRowsNewestWins(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "a", "c")
	op := c.containerPath(0, "a", "c", "o")
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1))
	c.putObject(0, "a", "c", "o", 10, 5, "v10")
	c.must(http.StatusNoContent, 0, "DELETE", op, "X-Timestamp", tsAt(20))
	// An older PUT arriving after the DELETE changes nothing.
	c.putObject(0, "a", "c", "o", 15, 7, "v15")
	if got := c.names(0, cp, ""); len(got) != 0 {
		t.Fatalf("listing after delete and older put = %v", got)
	}
	// So does an older DELETE after a newer PUT.
	c.putObject(0, "a", "c", "o", 30, 9, "v30")
	c.must(http.StatusNoContent, 0, "DELETE", op, "X-Timestamp", tsAt(25))
	r := c.must(http.StatusOK, 0, "GET", cp)
	var entries []objectJSON
	if err := json.Unmarshal(r.body, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Hash != "v30" || entries[0].Bytes != 9 {
		t.Fatalf("listing = %+v, want o of v30", entries)
	}
	// The same timestamp again is not newer either.
	c.must(http.StatusCreated, 0, "PUT", op, "X-Timestamp", tsAt(30), "X-Size", "1", "X-Content-Type", "a/b", "X-Etag", "same")
	if h := c.must(http.StatusOK, 0, "GET", cp).header; h.Get("X-Container-Bytes-Used") != "9" {
		t.Fatalf("bytes after equal-timestamp put = %s", h.Get("X-Container-Bytes-Used"))
	}
}

func TestContainerStats(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "a", "c")
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1))
	stats := func() (string, string) {
		h := c.must(http.StatusNoContent, 0, "HEAD", cp).header
		return h.Get("X-Container-Object-Count"), h.Get("X-Container-Bytes-Used")
	}
	c.putObject(0, "a", "c", "x", 2, 100, "e")
	c.putObject(0, "a", "c", "y", 3, 50, "e")
	if n, b := stats(); n != "2" || b != "150" {
		t.Fatalf("stats = %s objects %s bytes, want 2 150", n, b)
	}
	c.putObject(0, "a", "c", "x", 4, 10, "e") // overwrite
	if n, b := stats(); n != "2" || b != "60" {
		t.Fatalf("after overwrite = %s %s, want 2 60", n, b)
	}
	c.must(http.StatusNoContent, 0, "DELETE", c.containerPath(0, "a", "c", "y"), "X-Timestamp", tsAt(5))
	if n, b := stats(); n != "1" || b != "10" {
		t.Fatalf("after delete = %s %s, want 1 10", n, b)
	}
	c.must(http.StatusNoContent, 0, "DELETE", c.containerPath(0, "a", "c", "y"), "X-Timestamp", tsAt(6))
	c.must(http.StatusNoContent, 0, "DELETE", c.containerPath(0, "a", "c", "never"), "X-Timestamp", tsAt(6))
	if n, b := stats(); n != "1" || b != "10" {
		t.Fatalf("after deleting the deleted and the unknown = %s %s, want 1 10", n, b)
	}
	// A manifest's listing size comes from swift_bytes.
	c.must(http.StatusCreated, 0, "PUT", c.containerPath(0, "a", "c", "slo"), "X-Timestamp", tsAt(7), "X-Size", "300",
		"X-Content-Type", "application/x-thing;swift_bytes=123456;charset=utf-8", "X-Etag", "m")
	var entries []objectJSON
	if err := json.Unmarshal(c.must(http.StatusOK, 0, "GET", cp+"?prefix=slo").body, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Bytes != 123456 || entries[0].ContentType != "application/x-thing;charset=utf-8" {
		t.Fatalf("manifest entry = %+v", entries)
	}
}

func TestContainerMetadata(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "a", "c")
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1),
		"X-Container-Meta-Color", "red", "X-Container-Read", ".r:*", "X-Versions-Location", "old",
		"X-Container-Sysmeta-Thing", "s", "X-Container-Object-Count", "99", "X-Object-Meta-Nope", "n")
	c.must(http.StatusNoContent, 0, "POST", cp, "X-Timestamp", tsAt(3), "X-Container-Meta-Size", "big",
		"X-Container-Write", "bob:*")
	// Older than what is held: ignored, key by key.
	c.must(http.StatusNoContent, 0, "POST", cp, "X-Timestamp", tsAt(2), "X-Container-Meta-Size", "small",
		"X-Container-Meta-Shape", "round")
	h := c.must(http.StatusNoContent, 0, "HEAD", cp).header
	want := map[string]string{
		"X-Container-Meta-Color": "red", "X-Container-Meta-Size": "big", "X-Container-Meta-Shape": "round",
		"X-Container-Read": ".r:*", "X-Container-Write": "bob:*", "X-Versions-Location": "old",
		"X-Container-Sysmeta-Thing": "s", "X-Container-Object-Count": "0", "X-Object-Meta-Nope": "",
		"X-Put-Timestamp": tsAt(3), // POST moves it, as Swift's
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// An empty value deletes; newer wins.
	c.must(http.StatusNoContent, 0, "POST", cp, "X-Timestamp", tsAt(4), "X-Container-Meta-Color", "",
		"X-Container-Read", "", "X-Backend-No-Timestamp-Update", "true")
	h = c.must(http.StatusOK, 0, "GET", cp).header
	if _, ok := h["X-Container-Meta-Color"]; ok {
		t.Errorf("deleted metadata still shown: %v", h)
	}
	if h.Get("X-Container-Read") != "" || h.Get("X-Container-Meta-Size") != "big" {
		t.Errorf("after delete: read %q size %q", h.Get("X-Container-Read"), h.Get("X-Container-Meta-Size"))
	}
	if h.Get("X-Put-Timestamp") != tsAt(3) {
		t.Errorf("X-Backend-No-Timestamp-Update moved the PUT timestamp to %s", h.Get("X-Put-Timestamp"))
	}
	// An older set after the delete stays deleted.
	c.must(http.StatusNoContent, 0, "POST", cp, "X-Timestamp", tsAt(3), "X-Container-Meta-Color", "green")
	if got := c.must(http.StatusNoContent, 0, "HEAD", cp).header.Get("X-Container-Meta-Color"); got != "" {
		t.Errorf("older set revived a deleted key: %q", got)
	}
	c.must(http.StatusNotFound, 0, "POST", c.containerPath(0, "a", "nope"), "X-Timestamp", tsAt(5))
}

func TestContainerDelete(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "a", "c")
	c.must(http.StatusNotFound, 0, "DELETE", cp, "X-Timestamp", tsAt(1))
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1))
	c.putObject(0, "a", "c", "o", 2, 1, "e")
	c.must(http.StatusConflict, 0, "DELETE", cp, "X-Timestamp", tsAt(3))
	c.must(http.StatusNoContent, 0, "HEAD", cp)
	c.must(http.StatusNoContent, 0, "DELETE", c.containerPath(0, "a", "c", "o"), "X-Timestamp", tsAt(4))
	c.must(http.StatusNoContent, 0, "DELETE", cp, "X-Timestamp", tsAt(5))
	r := c.must(http.StatusNotFound, 0, "HEAD", cp)
	if r.header.Get("X-Backend-Delete-Timestamp") != tsAt(5) || r.header.Get("X-Backend-Put-Timestamp") != tsAt(1) {
		t.Errorf("deleted container's 404 headers: %v", r.header)
	}
	if r.header.Get("X-Container-Object-Count") != "" {
		t.Errorf("deleted container shows stats")
	}
	c.must(http.StatusNotFound, 0, "GET", cp)
	c.must(http.StatusNotFound, 0, "POST", cp, "X-Timestamp", tsAt(6))
	c.must(http.StatusNotFound, 0, "DELETE", cp, "X-Timestamp", tsAt(6))
	// A PUT older than the DELETE does not bring it back.
	c.must(http.StatusConflict, 0, "PUT", cp, "X-Timestamp", tsAt(4))
	c.must(http.StatusNotFound, 0, "HEAD", cp)
	// A newer one recreates it.
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(7), "X-Container-Meta-New", "1")
	h := c.must(http.StatusNoContent, 0, "HEAD", cp).header
	if h.Get("X-Put-Timestamp") != tsAt(7) || h.Get("X-Backend-Status-Changed-At") != tsAt(7) || h.Get("X-Container-Meta-New") != "1" {
		t.Errorf("recreated container: %v", h)
	}
	// A DELETE older than the PUT that recreated it is a conflict.
	c.must(http.StatusConflict, 0, "DELETE", cp, "X-Timestamp", tsAt(6))
}

func TestBadRequests(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "a", "c")
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1))
	for _, tc := range []struct {
		method, path string
		hdr          []string
		want         int
	}{
		{"PUT", c.containerPath(0, "a", "d"), nil, http.StatusBadRequest},
		{"PUT", c.containerPath(0, "a", "d"), []string{"X-Timestamp", "yesterday"}, http.StatusBadRequest},
		{"DELETE", cp, []string{"X-Timestamp", "-1"}, http.StatusBadRequest},
		{"POST", cp, nil, http.StatusBadRequest},
		{"PUT", c.containerPath(0, "a", "c", "o"), []string{"X-Timestamp", tsAt(2)}, http.StatusBadRequest},
		{"PUT", c.containerPath(0, "a", "c", "o"), []string{"X-Timestamp", tsAt(2), "X-Size", "-4"}, http.StatusBadRequest},
		{"PUT", c.containerPath(0, "a", "c", "o"), []string{"X-Size", "4"}, http.StatusBadRequest},
		{"PUT", "/container/d0/1", []string{"X-Timestamp", tsAt(2)}, http.StatusBadRequest},
		{"PUT", "/container/d0/1/a", []string{"X-Timestamp", tsAt(2)}, http.StatusBadRequest},
		{"PUT", "/container/d0/x1/a/c", []string{"X-Timestamp", tsAt(2)}, http.StatusBadRequest},
		{"GET", "/object/d0/1/a/c/o", nil, http.StatusBadRequest},
		{"PUT", "/container/nodev/1/a/c", []string{"X-Timestamp", tsAt(2)}, http.StatusInsufficientStorage},
		{"HEAD", "/account/nodev/1/a", nil, http.StatusInsufficientStorage},
		{"GET", c.containerPath(0, "a", "c", "o"), nil, http.StatusBadRequest},
		{"PATCH", cp, nil, http.StatusMethodNotAllowed},
		{"PUT", c.accountPath(0, "a", "c"), []string{"X-Put-Timestamp", "x", "X-Delete-Timestamp", "0", "X-Object-Count", "0", "X-Bytes-Used", "0"}, http.StatusBadRequest},
		{"PUT", c.accountPath(0, "a", "c"), []string{"X-Put-Timestamp", tsAt(1), "X-Delete-Timestamp", "0"}, http.StatusBadRequest},
		{"REPLICATE", "/container/d0/1/nothex", nil, http.StatusBadRequest},
	} {
		r := c.do(0, tc.method, tc.path, tc.hdr...)
		if r.status != tc.want {
			t.Errorf("%s %s %v: %d %s, want %d", tc.method, tc.path, tc.hdr, r.status, r.body, tc.want)
		}
	}
	// Nothing of that was stored.
	if got := c.names(0, cp, ""); len(got) != 0 {
		t.Errorf("bad requests stored rows: %v", got)
	}
	c.must(http.StatusNotFound, 0, "HEAD", c.containerPath(0, "a", "d"))
	c.must(http.StatusNotFound, 0, "HEAD", c.accountPath(0, "a"))
	// Rows for a container that is not here are refused (the object
	// server queues them), except for internal accounts.
	c.must(http.StatusNotFound, 0, "PUT", c.containerPath(0, "a", "nope", "o"), "X-Timestamp", tsAt(2), "X-Size", "1")
	c.must(http.StatusCreated, 0, "PUT", c.containerPath(0, ".expiring", "123", "o"), "X-Timestamp", tsAt(2), "X-Size", "0")
	if got := c.names(0, c.containerPath(0, ".expiring", "123"), ""); !cmp.Equal(got, []string{"o"}) {
		t.Errorf("autocreated container lists %v", got)
	}
}

func TestObjectPostUpdatesContentType(t *testing.T) {
	c := newCluster(t, 1)
	cp := c.containerPath(0, "a", "c")
	op := c.containerPath(0, "a", "c", "o")
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1))
	c.putObject(0, "a", "c", "o", 10, 5, "v10")
	entry := func() objectJSON {
		t.Helper()
		var entries []objectJSON
		if err := json.Unmarshal(c.must(http.StatusOK, 0, "GET", cp).body, &entries); err != nil || len(entries) != 1 {
			t.Fatalf("listing %v %v", entries, err)
		}
		return entries[0]
	}
	// The object server's update after a POST that set a content type:
	// the data's timestamp, and the POST's for the content type.
	c.must(http.StatusCreated, 0, "PUT", op, "X-Timestamp", tsAt(10), "X-Size", "5", "X-Etag", "v10",
		"X-Content-Type", "image/png", "X-Content-Type-Timestamp", tsAt(12), "X-Meta-Timestamp", tsAt(12))
	if e := entry(); e.ContentType != "image/png" || e.Bytes != 5 || e.Hash != "v10" || e.LastModified != isoFormat(tsAt(12)) {
		t.Fatalf("after POST update: %+v", e)
	}
	// Newer data with an older content type keeps the POST's type.
	c.putObject(0, "a", "c", "o", 11, 7, "v11")
	if e := entry(); e.ContentType != "image/png" || e.Bytes != 7 || e.Hash != "v11" {
		t.Fatalf("after newer data: %+v", e)
	}
	// Newer than all: all of it.
	c.putObject(0, "a", "c", "o", 13, 9, "v13")
	if e := entry(); e.ContentType != "text/plain" || e.Bytes != 9 || e.LastModified != isoFormat(tsAt(13)) {
		t.Fatalf("after newest PUT: %+v", e)
	}
	if h := c.must(http.StatusNoContent, 0, "HEAD", cp).header; h.Get("X-Container-Bytes-Used") != "9" || h.Get("X-Container-Object-Count") != "1" {
		t.Fatalf("stats %v", h)
	}
}
