package dbserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// putRow sends a container server's report to node i's account server.
func (c *cluster) putRow(want, i int, a, cont string, put, del int, objects, bytes int64) {
	c.t.Helper()
	delTS := "0"
	if del > 0 {
		delTS = tsAt(del)
	}
	c.must(want, i, "PUT", c.accountPath(i, a, cont), "X-Put-Timestamp", tsAt(put), "X-Delete-Timestamp", delTS,
		"X-Object-Count", strconv.FormatInt(objects, 10), "X-Bytes-Used", strconv.FormatInt(bytes, 10))
}

func (c *cluster) accountStats(i int, a string) (containers, objects, bytes string) {
	c.t.Helper()
	h := c.must(http.StatusNoContent, i, "HEAD", c.accountPath(i, a)).header
	return h.Get("X-Account-Container-Count"), h.Get("X-Account-Object-Count"), h.Get("X-Account-Bytes-Used")
}

func TestAccountRowsAndStats(t *testing.T) {
	c := newCluster(t, 1)
	ap := c.accountPath(0, "AUTH_x")
	c.must(http.StatusNotFound, 0, "HEAD", ap)
	// The first container row makes the account.
	c.putRow(http.StatusCreated, 0, "AUTH_x", "photos", 1, 0, 3, 300)
	c.putRow(http.StatusCreated, 0, "AUTH_x", "docs", 2, 0, 1, 10)
	c.putRow(http.StatusCreated, 0, "AUTH_x", "docs-old", 2, 0, 0, 0)
	if n, o, b := c.accountStats(0, "AUTH_x"); n != "3" || o != "4" || b != "310" {
		t.Fatalf("stats = %s %s %s, want 3 4 310", n, o, b)
	}
	// New stats replace the old.
	c.putRow(http.StatusCreated, 0, "AUTH_x", "photos", 1, 0, 5, 500)
	if n, o, b := c.accountStats(0, "AUTH_x"); n != "3" || o != "6" || b != "510" {
		t.Fatalf("stats after update = %s %s %s, want 3 6 510", n, o, b)
	}
	var entries []containerJSON
	if err := json.Unmarshal(c.must(http.StatusOK, 0, "GET", ap).body, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[0].Name != "docs" || entries[2].Name != "photos" || entries[2].Count != 5 ||
		entries[2].Bytes != 500 || entries[2].LastModified != isoFormat(tsAt(1)) {
		t.Fatalf("account listing = %+v", entries)
	}
	for _, tc := range []struct{ query, want string }{
		{"delimiter=-", "docs dir:docs- photos"},
		{"prefix=d", "docs docs-old"},
		{"reverse=true&limit=1", "photos"},
		{"marker=docs&end_marker=photos", "docs-old"},
	} {
		got := c.names(0, ap, tc.query)
		if want := strings.Fields(tc.want); !slices.Equal(got, want) {
			t.Errorf("GET ?%s = %v, want %v", tc.query, got, want)
		}
	}
	c.must(http.StatusPreconditionFailed, 0, "GET", ap+"?limit=10001")

	// A deleted container leaves the listing and the stats; an older
	// report of it does not bring it back.
	c.putRow(http.StatusNoContent, 0, "AUTH_x", "docs", 2, 4, 0, 0)
	c.putRow(http.StatusCreated, 0, "AUTH_x", "docs", 2, 0, 1, 10)
	if got := c.names(0, ap, ""); !slices.Equal(got, []string{"docs-old", "photos"}) {
		t.Fatalf("listing after delete = %v", got)
	}
	if n, o, b := c.accountStats(0, "AUTH_x"); n != "2" || o != "5" || b != "500" {
		t.Fatalf("stats after delete = %s %s %s, want 2 5 500", n, o, b)
	}
	// Recreated later, it is back.
	c.putRow(http.StatusCreated, 0, "AUTH_x", "docs", 5, 0, 0, 0)
	if n, _, _ := c.accountStats(0, "AUTH_x"); n != "3" {
		t.Fatalf("container count after recreate = %s", n)
	}
}

func TestAccountPutPostDelete(t *testing.T) {
	c := newCluster(t, 1)
	ap := c.accountPath(0, "AUTH_y")
	c.must(http.StatusNotFound, 0, "POST", ap, "X-Timestamp", tsAt(1))
	c.must(http.StatusCreated, 0, "PUT", ap, "X-Timestamp", tsAt(1), "X-Account-Meta-Quota", "10")
	c.must(http.StatusAccepted, 0, "PUT", ap, "X-Timestamp", tsAt(2))
	c.must(http.StatusNoContent, 0, "POST", ap, "X-Timestamp", tsAt(3), "X-Account-Meta-Color", "blue",
		"X-Account-Sysmeta-Core-Access-Control", `{"read-only":["x"]}`, "X-Account-Access-Control", "acl",
		"X-Account-Bytes-Used", "999")
	h := c.must(http.StatusNoContent, 0, "HEAD", ap).header
	for k, v := range map[string]string{"X-Account-Meta-Quota": "10", "X-Account-Meta-Color": "blue",
		"X-Account-Sysmeta-Core-Access-Control": `{"read-only":["x"]}`, "X-Account-Access-Control": "acl",
		"X-Account-Bytes-Used": "0", "X-Account-Container-Count": "0", "X-Timestamp": tsAt(1), "X-Put-Timestamp": tsAt(2)} {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if body := c.must(http.StatusOK, 0, "GET", ap).body; string(body) != "[]" {
		t.Errorf("empty account listing = %s", body)
	}
	c.must(http.StatusNoContent, 0, "DELETE", ap, "X-Timestamp", tsAt(4))
	r := c.must(http.StatusNotFound, 0, "HEAD", ap)
	if r.header.Get("X-Account-Status") != "Deleted" {
		t.Errorf("deleted account's 404 lacks X-Account-Status: %v", r.header)
	}
	c.must(http.StatusForbidden, 0, "PUT", ap, "X-Timestamp", tsAt(5))
	// Container reports to a deleted account are refused...
	c.putRow(http.StatusNotFound, 0, "AUTH_y", "c", 6, 0, 0, 0)
	// ...unless told to override.
	c.must(http.StatusCreated, 0, "PUT", c.accountPath(0, "AUTH_y", "c"), "X-Put-Timestamp", tsAt(6),
		"X-Delete-Timestamp", "0", "X-Object-Count", "0", "X-Bytes-Used", "0", "X-Account-Override-Deleted", "yes")
}

func TestContainerPutReportsToAccount(t *testing.T) {
	c := newCluster(t, 1)
	part := strconv.Itoa(c.ring.Partition("AUTH_z", "", ""))
	acct := []string{"X-Account-Host", c.nodes[0].addr, "X-Account-Device", "d0", "X-Account-Partition", part}
	cp := c.containerPath(0, "AUTH_z", "box")
	c.must(http.StatusCreated, 0, "PUT", cp, append([]string{"X-Timestamp", tsAt(1)}, acct...)...)
	if got := c.names(0, c.accountPath(0, "AUTH_z"), ""); !slices.Equal(got, []string{"box"}) {
		t.Fatalf("account lists %v after container PUT", got)
	}
	// Object rows change the stats; the updater reports them.
	c.putObject(0, "AUTH_z", "box", "o1", 2, 100, "e")
	c.putObject(0, "AUTH_z", "box", "o2", 3, 20, "e")
	if _, o, _ := c.accountStats(0, "AUTH_z"); o != "0" {
		t.Fatalf("account stats changed before the updater ran: %s objects", o)
	}
	if err := c.updateOnce(0); err != nil {
		t.Fatal(err)
	}
	if n, o, b := c.accountStats(0, "AUTH_z"); n != "1" || o != "2" || b != "120" {
		t.Fatalf("account stats after update = %s %s %s, want 1 2 120", n, o, b)
	}
	// Deleting the container tells the account.
	c.must(http.StatusNoContent, 0, "DELETE", c.containerPath(0, "AUTH_z", "box", "o1"), "X-Timestamp", tsAt(4))
	c.must(http.StatusNoContent, 0, "DELETE", c.containerPath(0, "AUTH_z", "box", "o2"), "X-Timestamp", tsAt(4))
	c.must(http.StatusNoContent, 0, "DELETE", cp, append([]string{"X-Timestamp", tsAt(5)}, acct...)...)
	if got := c.names(0, c.accountPath(0, "AUTH_z"), ""); len(got) != 0 {
		t.Fatalf("account lists %v after container DELETE", got)
	}
	if n, o, b := c.accountStats(0, "AUTH_z"); n != "0" || o != "0" || b != "0" {
		t.Fatalf("account stats after delete = %s %s %s", n, o, b)
	}
	// Mismatched account hosts and devices are the proxy's bug: 400.
	c.must(http.StatusBadRequest, 0, "PUT", cp, "X-Timestamp", tsAt(6), "X-Account-Host", "a:1,b:2",
		"X-Account-Device", "d0", "X-Account-Partition", part)
}

func TestUpdaterResendsAfterAccountServerWasDown(t *testing.T) {
	c := newCluster(t, 3)
	part := strconv.Itoa(c.ring.Partition("AUTH_u", "", ""))
	for i := range c.nodes {
		c.down(i, "/account/")
	}
	cp := c.containerPath(0, "AUTH_u", "box")
	// The account update fails, the container is made anyway.
	c.must(http.StatusCreated, 0, "PUT", cp, "X-Timestamp", tsAt(1), "X-Account-Host", c.nodes[0].addr,
		"X-Account-Device", "d0", "X-Account-Partition", part)
	c.putObject(0, "AUTH_u", "box", "o", 2, 42, "e")
	if err := c.updateOnce(0); err == nil {
		t.Fatal("update pass with every account server down reported no error")
	}
	// A restart loses nothing: what was reported is in the database.
	c.restartServer(0)
	for i := range c.nodes {
		c.up(i)
	}
	if err := c.updateOnce(0); err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		if n, o, b := c.accountStats(i, "AUTH_u"); n != "1" || o != "1" || b != "42" {
			t.Errorf("node %d account stats = %s %s %s, want 1 1 42", i, n, o, b)
		}
	}
	// Reported now: the next pass sends nothing even with accounts down.
	for i := range c.nodes {
		c.down(i, "/account/")
	}
	if err := c.updateOnce(0); err != nil {
		t.Fatalf("pass with nothing to report: %v", err)
	}
}
