package swift

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
	"github.com/nimbus-cloud/nimbus/internal/image/store/storetest"
)

const mib = 1 << 20

// listed shows the suite every object of both containers, a segment by the
// image id it starts with.
type listed struct{ *Store }

func (l listed) List(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, name := range l.names(t, l.container) {
		ids = append(ids, name)
	}
	for _, name := range l.names(t, l.segments) {
		id, _, _ := strings.Cut(name, "/")
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// names lists a container (missing: empty).
func (s *Store) names(t *testing.T, container string) []string {
	t.Helper()
	return s.namesCtx(t, t.Context(), container)
}

func (s *Store) namesCtx(t *testing.T, ctx context.Context, container string) []string {
	t.Helper()
	resp, err := s.sendBytes(ctx, http.MethodGet, container, "", "format=json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list %s: %s", container, resp.Status)
	}
	var objs []struct{ Name string }
	if err := json.NewDecoder(resp.Body).Decode(&objs); err != nil {
		t.Fatalf("list %s: %v", container, err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Name)
	}
	return names
}

// newStore returns a store on containers of its own, removed after t.
func newStore(t *testing.T, o Options) *Store {
	t.Helper()
	if o.Endpoint == nil {
		o.Endpoint = needSwift(t)
	}
	if o.Container == "" {
		o.Container = "nimbus-test-" + newNonce()
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = mib
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, c := range []string{s.container, s.segments} {
			for _, name := range s.namesCtx(t, ctx, c) {
				if resp, err := s.sendBytes(ctx, http.MethodDelete, c, name, "", nil, nil); err == nil {
					drain(resp)
				}
			}
			if resp, err := s.sendBytes(ctx, http.MethodDelete, c, "", "", nil, nil); err == nil {
				drain(resp)
			}
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	needSwift(t)
	storetest.Run(t, func(t *testing.T) store.Store { return listed{newStore(t, Options{})} })
}

// TestSegments checks the layout in Swift: an SLO manifest over
// SegmentSize segments, none of them empty, all gone after Delete.
func TestSegments(t *testing.T) {
	needSwift(t)
	for _, tc := range []struct {
		size int64
		segs []int64
	}{
		{1, []int64{1}},
		{mib, []int64{mib}},
		{2 * mib, []int64{mib, mib}},
		{3*mib + 5, []int64{mib, mib, mib, 5}},
	} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			s := newStore(t, Options{})
			id := storetest.NewID()
			obj, err := s.Put(t.Context(), id, storetest.NewGen(1, tc.size), 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := "swift://" + s.container + "/" + id; obj.Location != want || obj.Size != tc.size {
				t.Errorf("Put = %+v, want location %s and size %d", obj, want, tc.size)
			}
			if got := s.names(t, s.container); !slices.Equal(got, []string{id}) {
				t.Errorf("container holds %q, want the manifest %s", got, id)
			}
			var sizes []int64
			for _, seg := range manifest(t, s, id) {
				sizes = append(sizes, seg.SizeBytes)
				if !strings.HasPrefix(seg.Path, "/"+s.segments+"/"+id+"/") {
					t.Errorf("segment %s not under %s/%s/", seg.Path, s.segments, id)
				}
			}
			if diff := cmp.Diff(tc.segs, sizes); diff != "" {
				t.Errorf("segment sizes (-want +got):\n%s", diff)
			}
			if n := len(s.names(t, s.segments)); n != len(tc.segs) {
				t.Errorf("segment container holds %d objects, want %d", n, len(tc.segs))
			}
			if err := s.Delete(t.Context(), obj.Location); err != nil {
				t.Fatal(err)
			}
			if got := (listed{s}).List(t); len(got) != 0 {
				t.Errorf("after Delete the store holds %q", got)
			}
		})
	}
}

func manifest(t *testing.T, s *Store, id string) []segment {
	t.Helper()
	resp, err := s.sendBytes(t.Context(), http.MethodGet, s.container, id, "multipart-manifest=get", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Static-Large-Object") != "True" {
		t.Fatalf("GET manifest %s: %s, X-Static-Large-Object %q", id, resp.Status, resp.Header.Get("X-Static-Large-Object"))
	}
	// Swift's stored form: name, bytes, hash.
	var stored []struct {
		Name  string `json:"name"`
		Bytes int64  `json:"bytes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stored); err != nil {
		t.Fatal(err)
	}
	var segs []segment
	for _, e := range stored {
		segs = append(segs, segment{Path: e.Name, SizeBytes: e.Bytes})
	}
	return segs
}

// faultyTransport lets a test break chosen requests to Swift.
type faultyTransport struct {
	rt   http.RoundTripper
	fail func(req *http.Request) *http.Response // nil: pass on
}

func (f faultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if resp := f.fail(req); resp != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		resp.Request = req
		return resp, nil
	}
	return f.rt.RoundTrip(req)
}

func answer(code int) *http.Response {
	return &http.Response{
		StatusCode: code, Status: http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")),
	}
}

// isSegmentPut tells the segment uploads apart.
func isSegmentPut(s **Store, req *http.Request) bool {
	return req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/"+(*s).segments+"/")
}

func defaultTransport() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = 5e9
	return tr
}

// TestSwiftFailsMidway: Swift refuses the third segment as full; the two
// before it are deleted and the error is the full-store fault.
func TestSwiftFailsMidway(t *testing.T) {
	var s *Store
	var puts atomic.Int32
	tr := faultyTransport{rt: defaultTransport(), fail: func(req *http.Request) *http.Response {
		if isSegmentPut(&s, req) && puts.Add(1) == 3 {
			return answer(http.StatusInsufficientStorage)
		}
		return nil
	}}
	s = newStore(t, Options{HTTPClient: &http.Client{Transport: tr}})
	_, err := s.Put(t.Context(), storetest.NewID(), storetest.NewGen(1, 5*mib), 0)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.TooLarge || fe.Msg != store.MsgFull {
		t.Errorf("Put err = %v, want the TooLarge fault %q", err, store.MsgFull)
	}
	if got := (listed{s}).List(t); len(got) != 0 {
		t.Errorf("after a failed Put the store holds %q", got)
	}
}

// TestReaderFailsMidway: the data fails in the third segment; no segment
// stays.
func TestReaderFailsMidway(t *testing.T) {
	s := newStore(t, Options{})
	boom := errors.New("client went away")
	r := io.MultiReader(storetest.NewGen(1, 2*mib+mib/2), errReader{boom})
	if _, err := s.Put(t.Context(), storetest.NewID(), r, 0); !errors.Is(err, boom) {
		t.Errorf("Put err = %v, want one wrapping %v", err, boom)
	}
	if got := s.names(t, s.segments); len(got) != 0 {
		t.Errorf("segments left: %q", got)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestContainerQuota: Swift's container quota (413) is the full-store
// fault, and leaves nothing new. Swift checks a chunked upload against what
// the container held before it, so the quota is set below that.
func TestContainerQuota(t *testing.T) {
	s := newStore(t, Options{})
	first := storetest.NewID()
	if _, err := s.Put(t.Context(), first, storetest.NewGen(1, 2*mib), 0); err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Container-Meta-Quota-Bytes": {"1048576"}}
	resp, err := s.sendBytes(t.Context(), http.MethodPost, s.segments, "", "", h, nil)
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("set quota: %s", resp.Status)
	}
	_, err = s.Put(t.Context(), storetest.NewID(), storetest.NewGen(1, 3*mib), 0)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.TooLarge || fe.Msg != store.MsgFull {
		t.Errorf("Put err = %v, want the TooLarge fault %q", err, store.MsgFull)
	}
	if got := (listed{s}).List(t); !slices.Equal(got, []string{first}) {
		t.Errorf("after a failed Put the store holds %q, want only %s", got, first)
	}
}

// TestTokenExpires: a 401 makes the store log in again once, also in the
// middle of an upload, without losing data.
func TestTokenExpires(t *testing.T) {
	auth := needSwift(t)
	var logins atomic.Int32
	endpoint := func(ctx context.Context) (string, string, error) {
		u, tok, err := auth(ctx)
		if logins.Add(1) == 1 {
			tok = "AUTH_tk" + strings.Repeat("0", 32) // expired
		}
		return u, tok, err
	}
	var s *Store
	var puts atomic.Int32
	tr := faultyTransport{rt: defaultTransport(), fail: func(req *http.Request) *http.Response {
		if isSegmentPut(&s, req) && puts.Add(1) == 2 {
			return answer(http.StatusUnauthorized) // as if the token had just expired
		}
		return nil
	}}
	s = newStore(t, Options{Endpoint: endpoint, HTTPClient: &http.Client{Transport: tr}})
	data, _ := io.ReadAll(storetest.NewGen(1, 3*mib+1))
	obj, err := s.Put(t.Context(), storetest.NewID(), bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := logins.Load(); n != 3 {
		t.Errorf("logged in %d times, want 3 (first token refused, then a 401 mid-upload)", n)
	}
	if strings.Contains(obj.Location, s.token) || strings.Contains(obj.Location, "AUTH_") {
		t.Errorf("location %q shows credentials", obj.Location)
	}
	rc, err := s.Open(t.Context(), obj.Location, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes (%v), want the %d sent", len(got), err, len(data))
	}
}

// TestBadLocation runs without Swift: locations of other stores or other
// containers are refused before any request.
func TestBadLocation(t *testing.T) {
	s, err := New(Options{Container: "glance", Endpoint: func(context.Context) (string, string, error) {
		t.Error("Endpoint called")
		return "", "", errors.New("no")
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{
		"", "swift://glance/", "swift://glance/../x", "swift://other/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"swift://glance/3f2504e0-4f89-11d3-9a0c-0305e82c3301/x", "file:///glance/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"swift://glance_segments/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
	} {
		if _, err := s.Open(t.Context(), loc, 0, -1); !fault.Is(err, fault.BadRequest) {
			t.Errorf("Open(%q) err = %v, want BadRequest", loc, err)
		}
		if err := s.Delete(t.Context(), loc); !fault.Is(err, fault.BadRequest) {
			t.Errorf("Delete(%q) err = %v, want BadRequest", loc, err)
		}
	}
	if _, err := New(Options{Container: "a/b", Endpoint: s.endpoint}); err == nil {
		t.Error("New accepted container a/b")
	}
}

// TestTokenRefusedBeforeSegment: a real Swift's 401 to a segment upload
// comes before "100 Continue", so no data is lost and the retry sends it.
func TestTokenRefusedBeforeSegment(t *testing.T) {
	s := newStore(t, Options{})
	if err := s.ensureContainers(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.token = "AUTH_tk" + strings.Repeat("0", 32) // expired
	id := storetest.NewID()
	data, _ := io.ReadAll(storetest.NewGen(1, mib/2))
	seg, err := s.putSegment(t.Context(), id, id+"/x/00000001", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("putSegment after an expired token: %v", err)
	}
	if seg.SizeBytes != int64(len(data)) {
		t.Errorf("segment has %d bytes, want %d", seg.SizeBytes, len(data))
	}
}

// TestEmpty: an empty image is a plain object (SLO segments cannot be
// empty) that Delete removes like a manifest.
func TestEmpty(t *testing.T) {
	s := newStore(t, Options{})
	id := storetest.NewID()
	obj, err := s.Put(t.Context(), id, strings.NewReader(""), 0)
	if err != nil || obj.Size != 0 {
		t.Fatalf("Put(empty) = %+v, %v", obj, err)
	}
	if got := (listed{s}).List(t); !slices.Equal(got, []string{id}) {
		t.Errorf("store holds %q, want %s", got, id)
	}
	for i := range 2 {
		if err := s.Delete(t.Context(), obj.Location); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if got := (listed{s}).List(t); len(got) != 0 {
		t.Errorf("after Delete the store holds %q", got)
	}
}
