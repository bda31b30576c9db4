package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func TestCheckMetadata(t *testing.T) {
	long := func(n int) string { return strings.Repeat("k", n) }
	for _, tc := range []struct {
		kind string
		h    http.Header
		want string
	}{
		{"Object", http.Header{"X-Object-Meta-Color": {"red"}}, ""},
		{"Object", http.Header{"X-Object-Meta-": {"x"}}, "Metadata name cannot be empty"},
		{"Object", http.Header{"X-Object-Meta-" + long(129): {"v"}}, "Metadata name too long: x-object-meta-" + long(129)},
		{"Object", http.Header{"X-Object-Meta-" + long(128): {"v"}}, ""},
		{"Container", http.Header{"X-Container-Meta-K": {long(257)}}, "Metadata value longer than 256: x-container-meta-K"},
		{"Account", http.Header{"X-Account-Meta-K": {"\xff"}}, "Metadata must be valid UTF-8"},
		{"Object", http.Header{"X-Object-Meta-K": {"\xff"}}, ""},
		{"Object", http.Header{"X-Other": {long(8193)}}, "Header value too long: X-Other"},
	} {
		if got := checkMetadata(tc.kind, tc.h); got != tc.want {
			t.Errorf("checkMetadata(%s, %v) = %q, want %q", tc.kind, tc.h, got, tc.want)
		}
	}
	many := http.Header{}
	for i := range swift.MaxMetaCount + 1 {
		many.Set("X-Object-Meta-K"+strconv.Itoa(i), "v")
	}
	if got := checkMetadata("Object", many); got != "Too many metadata items; max 90" {
		t.Errorf("91 items: %q", got)
	}
	big := http.Header{}
	for i := range 20 {
		big.Set("X-Object-Meta-"+string(rune('a'+i)), long(250))
	}
	if got := checkMetadata("Object", big); got != "Total metadata too large; max 4096" {
		t.Errorf("5 KB of metadata: %q", got)
	}
}

func TestTransferMeta(t *testing.T) {
	src := http.Header{
		"X-Container-Meta-A":         {"1"},
		"X-Remove-Container-Meta-B":  {"x"},
		"X-Container-Sysmeta-S":      {"s"},
		"X-Container-Read":           {".r:*"},
		"X-Remove-Versions-Location": {"1"},
		"X-Object-Meta-Not":          {"no"},
		"Content-Type":               {"text/plain"},
	}
	dst := http.Header{}
	transferMeta("Container", src, dst)
	want := http.Header{
		"X-Container-Meta-A":    {"1"},
		"X-Container-Meta-B":    {""},
		"X-Container-Sysmeta-S": {"s"},
		"X-Container-Read":      {".r:*"},
		"X-Versions-Location":   {""},
	}
	if len(dst) != len(want) {
		t.Fatalf("transferMeta = %v", dst)
	}
	for k, v := range want {
		if dst.Get(k) != v[0] {
			t.Errorf("%s = %q, want %q", k, dst.Get(k), v[0])
		}
	}
	acct := http.Header{}
	transferMeta("Account", http.Header{"X-Container-Read": {"x"}, "X-Account-Meta-Temp-Url-Key": {"k"}}, acct)
	if acct.Get("X-Container-Read") != "" || acct.Get("X-Account-Meta-Temp-Url-Key") != "k" {
		t.Errorf("account transfer = %v", acct)
	}
}

func TestDeleteAtHeaders(t *testing.T) {
	now, _ := swift.ParseTimestamp("1700000000.50000")
	h := http.Header{"X-Delete-After": {"60"}}
	if msg := deleteAtHeaders(h, now); msg != "" || h.Get("X-Delete-At") != "1700000060" || h.Get("X-Delete-After") != "" {
		t.Fatalf("X-Delete-After 60: %q %v", msg, h)
	}
	for in, want := range map[string]string{
		"abc": "Non-integer X-Delete-After", "-1": "X-Delete-After in past", "0": "X-Delete-After in past",
	} {
		if msg := deleteAtHeaders(http.Header{"X-Delete-After": {in}}, now); msg != want {
			t.Errorf("X-Delete-After %q: %q", in, msg)
		}
	}
	for in, want := range map[string]string{
		"1.5": "Non-integer X-Delete-At", "100": "X-Delete-At in past", "1800000000": "",
	} {
		if msg := deleteAtHeaders(http.Header{"X-Delete-At": {in}}, now); msg != want {
			t.Errorf("X-Delete-At %q: %q", in, msg)
		}
	}
}

func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		path   string
		t      target
		status int
	}{
		{"/v1/AUTH_a", target{Account: "AUTH_a"}, 0},
		{"/v1/AUTH_a/", target{Account: "AUTH_a"}, 0},
		{"/v1.0/AUTH_a/c", target{Account: "AUTH_a", Container: "c"}, 0},
		{"/v1/AUTH_a/c/", target{Account: "AUTH_a", Container: "c"}, 0},
		{"/v1/AUTH_a/c/a/b/../c", target{Account: "AUTH_a", Container: "c", Object: "a/b/../c"}, 0},
		{"/", target{}, 404},
		{"/v1", target{}, 412},
		{"/foo", target{}, 412},
		{"/v2/AUTH_a", target{}, 400},
		{"/v1/AUTH_a//o", target{}, 412},
		{"/v1/AUTH_a/c/\xff", target{}, 412},
		{"/v1/AUTH_a/c/o\x00", target{}, 412},
	} {
		got, status, _ := route(tc.path)
		if status != tc.status || (status == 0 && got != tc.t) {
			t.Errorf("route(%q) = %+v %d, want %+v %d", tc.path, got, status, tc.t, tc.status)
		}
	}
}

func TestTransID(t *testing.T) {
	id := NewTransID("")
	if len(id) != 34 || !strings.HasPrefix(id, "tx") || id[23] != '-' {
		t.Fatalf("trans id %q", id)
	}
	if NewTransID("") == id {
		t.Fatal("two equal trans ids")
	}
	if got := NewTransID("my extra"); !strings.HasSuffix(got, "-my%20extra") {
		t.Fatalf("with extra: %q", got)
	}
}

func TestBestResponse(t *testing.T) {
	rs := func(sts ...int) []reply {
		out := make([]reply, len(sts))
		for i, s := range sts {
			out[i] = reply{status: s}
		}
		return out
	}
	for _, tc := range []struct {
		in   []int
		ov   map[int]int
		want int
		ok   bool
	}{
		{[]int{201, 201, 201}, nil, 201, true},
		{[]int{201, 202, 503}, nil, 202, true},
		{[]int{201, 503, 503}, nil, 0, false},
		{[]int{404, 404, 503}, nil, 404, true},
		{[]int{204, 404, 503}, nil, 0, false},
		{[]int{204, 404, 503}, map[int]int{404: 204}, 204, true},
		{[]int{404, 404, 204}, map[int]int{404: 204}, 404, true},
		{[]int{422, 422, 201}, nil, 422, true},
	} {
		r, ok := best(rs(tc.in...), len(tc.in), tc.ov)
		if ok != tc.ok || (ok && r.status != tc.want) {
			t.Errorf("best(%v) = %d %v, want %d %v", tc.in, r.status, ok, tc.want, tc.ok)
		}
	}
	if !haveQuorum([]int{201, 201}, 3) || haveQuorum([]int{201, 404}, 3) {
		t.Error("haveQuorum")
	}
}

func TestContainerUpdatesPreferTheSameNode(t *testing.T) {
	dev := func(port int, name string) ring.Device {
		return ring.Device{IP: "10.0.0.1", Port: port, Name: name}
	}
	objects := []ring.Device{dev(2, "b"), dev(3, "c"), dev(1, "a")}
	containers := []ring.Device{dev(1, "a"), dev(2, "b"), dev(3, "c")}
	hosts, devs := containerUpdates(objects, containers, 3)
	for i, o := range objects {
		if len(devs[i]) != 1 || devs[i][0] != o.Name || hosts[i][0] != o.Addr() {
			t.Fatalf("slot %d (%s) updates %v", i, o.Name, devs[i])
		}
	}
	// No node in common: round-robin, every replica named once.
	others := []ring.Device{dev(7, "x"), dev(8, "y"), dev(9, "z")}
	_, devs = containerUpdates(others, containers, 3)
	seen := map[string]bool{}
	for _, d := range devs {
		if len(d) != 1 {
			t.Fatalf("uneven updates %v", devs)
		}
		seen[d[0]] = true
	}
	if len(seen) != 3 {
		t.Fatalf("not every replica updated: %v", devs)
	}
	// Five object replicas, three container replicas: Qc + Ro - Qo = 2 + 5 - 3 = 4.
	five := append(others, dev(1, "a"), dev(4, "d"))
	_, devs = containerUpdates(five, containers, 5)
	total := 0
	for _, d := range devs {
		total += len(d)
	}
	if total != 4 || len(devs[3]) != 1 || devs[3][0] != "a" {
		t.Fatalf("five replicas: %v", devs)
	}
}

func TestUnderscoresBecomeHyphens(t *testing.T) {
	h := http.Header{"X-Container-Meta-Test_container_meta": {"Meta1"}, "X-Other": {"x"}}
	underscoresToHyphens(h)
	if h.Get("X-Container-Meta-Test-Container-Meta") != "Meta1" || len(h) != 2 {
		t.Fatalf("headers %v", h)
	}
}
