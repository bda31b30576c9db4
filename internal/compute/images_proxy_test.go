package compute_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/compute"
)

func TestImageProxyShow(t *testing.T) {
	a := newProxyAPI(t, compute.DefaultConfig())
	id := a.image("member", "mine", map[string]any{"min_ram": 64, "os_distro": "debian"}, true)
	r := a.nova("GET", "/images/"+id, nil, "member").must(t, http.StatusOK)
	img, _ := r.body["image"].(map[string]any)
	if img["id"] != id || img["name"] != "mine" || img["status"] != "ACTIVE" || img["progress"] != 100.0 ||
		img["minRam"] != 64.0 || img["minDisk"] != 0.0 || img["OS-EXT-IMG-SIZE:size"] != 1024.0 {
		t.Fatalf("image %s", r.raw)
	}
	if md, _ := img["metadata"].(map[string]any); !reflect.DeepEqual(md, map[string]any{"os_distro": "debian"}) {
		t.Fatalf("metadata %v", img["metadata"])
	}
	created, err := time.Parse("2006-01-02T15:04:05Z", img["created"].(string))
	if err != nil || time.Since(created) > time.Minute {
		t.Fatalf("created %v", img["created"])
	}
	if _, ok := img["server"]; ok {
		t.Fatalf("an image of no server shows one: %s", r.raw)
	}
	links, _ := img["links"].([]any)
	want := []map[string]any{
		{"rel": "self", "href": a.compute + "/v2.1/images/" + id},
		{"rel": "bookmark", "href": a.compute + "/images/" + id},
		{"rel": "alternate", "type": "application/vnd.openstack.image", "href": a.glance + "/images/" + id},
	}
	if len(links) != 3 {
		t.Fatalf("links %v", links)
	}
	for i, l := range links {
		if !reflect.DeepEqual(l, map[string]any(want[i])) {
			t.Fatalf("link %d: %v, want %v", i, l, want[i])
		}
	}

	// A queued snapshot of a server.
	srv := uuid.NewString()
	snap := a.image("member", "snap", map[string]any{"instance_uuid": srv, "image_type": "snapshot", "auto_disk_config": "True"}, false)
	r = a.nova("GET", "/images/"+snap, nil, "member").must(t, http.StatusOK)
	img, _ = r.body["image"].(map[string]any)
	server, _ := img["server"].(map[string]any)
	if img["status"] != "SAVING" || img["progress"] != 25.0 || img["OS-EXT-IMG-SIZE:size"] != 0.0 ||
		img["OS-DCF:diskConfig"] != "AUTO" || server["id"] != srv {
		t.Fatalf("snapshot %s", r.raw)
	}
	if sl, _ := server["links"].([]any); len(sl) != 2 || sl[0].(map[string]any)["href"] != a.compute+"/v2.1/servers/"+srv {
		t.Fatalf("server links %v", server["links"])
	}

	a.nova("GET", "/images/"+id, nil, "alt").fault(t, http.StatusNotFound, "itemNotFound", "Image not found.")
	a.nova("GET", "/images/"+uuid.NewString(), nil, "member").fault(t, http.StatusNotFound, "itemNotFound", "Image not found.")
	a.nova("GET", "/images/"+id, nil, "member", "2.36").fault(t, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
	a.nova("GET", "/images/"+id, nil, "member", "2.1").must(t, http.StatusOK)
}

func TestImageProxyList(t *testing.T) {
	a := newProxyAPI(t, compute.DefaultConfig())
	img1 := a.image("member", "img-1", nil, true)
	img2 := a.image("member", "img-2", nil, true)
	queued := a.image("member", "queued", nil, false)
	srv1, srv2 := uuid.NewString(), uuid.NewString()
	snap1 := a.image("member", "snap-1", map[string]any{"instance_uuid": srv1, "image_type": "snapshot"}, true)
	snap2 := a.image("member", "snap-2", map[string]any{"instance_uuid": srv2, "image_type": "snapshot"}, true)
	other := a.image("alt", "not-mine", nil, true)

	list := func(path string) []string {
		t.Helper()
		return ids(a.nova("GET", path, nil, "member").must(t, http.StatusOK).body["images"])
	}
	for _, base := range []string{"/images", "/images/detail"} {
		all := list(base)
		for _, id := range []string{a.bootFrom, img1, img2, queued, snap1, snap2} {
			if !has(all, id) {
				t.Fatalf("%s: %s missing from %v", base, id, all)
			}
		}
		if has(all, other) {
			t.Fatalf("%s shows another project's private image", base)
		}
		if got := list(base + "?status=ACTIVE"); has(got, queued) || !has(got, img1) {
			t.Fatalf("%s?status=ACTIVE: %v", base, got)
		}
		if got := list(base + "?name=img-1"); !reflect.DeepEqual(got, []string{img1}) {
			t.Fatalf("%s?name: %v", base, got)
		}
		if got := list(base + "?server=" + srv1); !reflect.DeepEqual(got, []string{snap1}) {
			t.Fatalf("%s?server: %v", base, got)
		}
		href := url.QueryEscape(a.compute + "/v2.1/servers/" + srv2)
		if got := list(base + "?server=" + href); !reflect.DeepEqual(got, []string{snap2}) {
			t.Fatalf("%s?server=href: %v", base, got)
		}
		if got := list(base + "?type=snapshot"); len(got) != 2 || !has(got, snap1) || !has(got, snap2) {
			t.Fatalf("%s?type: %v", base, got)
		}
		if got := list(base + "?property-image_type=snapshot&name=snap-2"); !reflect.DeepEqual(got, []string{snap2}) {
			t.Fatalf("%s?property-: %v", base, got)
		}
		since := time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05Z")
		if got := list(base + "?changes-since=" + since); !has(got, img1) {
			t.Fatalf("%s?changes-since: %v", base, got)
		}
		if got := list(base + "?changes-since=2099-01-01T00:00:00Z"); len(got) != 0 {
			t.Fatalf("%s?changes-since future: %v", base, got)
		}
		r := a.nova("GET", base+"?limit=1", nil, "member").must(t, http.StatusOK)
		page := ids(r.body["images"])
		links, _ := r.body["images_links"].([]any)
		if len(page) != 1 || len(links) != 1 {
			t.Fatalf("%s?limit=1: %s", base, r.raw)
		}
		next := links[0].(map[string]any)["href"].(string)
		if !strings.HasPrefix(next, a.compute+"/v2.1"+base+"?") || !strings.Contains(next, "marker="+page[0]) {
			t.Fatalf("next link %s", next)
		}
		r = a.nova("GET", strings.TrimPrefix(next, a.compute+"/v2.1"), nil, "member").must(t, http.StatusOK)
		if got := ids(r.body["images"]); len(got) != 1 || got[0] == page[0] {
			t.Fatalf("second page %v after %v", got, page)
		}
		a.nova("GET", base+"?limit=abc", nil, "member").fault(t, http.StatusBadRequest, "badRequest",
			"Invalid input for query parameters limit. Value: abc. 'abc' does not match '^[0-9]*$'")
		a.nova("GET", base, nil, "member", "2.36").must(t, http.StatusNotFound)
	}
	r := a.nova("GET", "/images?name=img-2", nil, "member").must(t, http.StatusOK)
	brief := r.body["images"].([]any)[0].(map[string]any)
	if len(brief) != 3 || brief["name"] != "img-2" || len(brief["links"].([]any)) != 3 {
		t.Fatalf("brief view %s", r.raw)
	}
}

func TestImageProxyDelete(t *testing.T) {
	a := newProxyAPI(t, compute.DefaultConfig())
	mine := a.image("member", "mine", nil, true)
	other := a.image("alt", "theirs", nil, true)
	a.nova("DELETE", "/images/"+other, nil, "member").fault(t, http.StatusNotFound, "itemNotFound", "Image not found.")
	a.nova("DELETE", "/images/"+a.bootFrom, nil, "member").fault(t, http.StatusForbidden, "forbidden",
		"You are not allowed to delete the image.")
	for _, bad := range []string{uuid.NewString(), "-1", "invalid", uuid.NewString()[:35] + "j"} {
		a.nova("DELETE", "/images/"+bad, nil, "member").must(t, http.StatusNotFound)
	}
	a.nova("DELETE", "/images/"+mine, nil, "member", "2.36").must(t, http.StatusNotFound)
	r := a.nova("DELETE", "/images/"+mine, nil, "member").must(t, http.StatusNoContent)
	if r.raw != "" {
		t.Fatalf("delete answered %q", r.raw)
	}
	a.nova("GET", "/images/"+mine, nil, "member").must(t, http.StatusNotFound)
	a.nova("GET", "/images/"+other, nil, "alt").must(t, http.StatusOK)
	a.nova("GET", "/images/"+a.bootFrom, nil, "member").must(t, http.StatusOK)
}

func TestImageProxyMetadata(t *testing.T) {
	a := newProxyAPI(t, compute.DefaultConfig())
	id := a.image("member", "md", map[string]any{"image_type": "snapshot"}, true)
	md := func() map[string]any {
		t.Helper()
		r := a.nova("GET", "/images/"+id+"/metadata", nil, "member", "2.38").must(t, http.StatusOK)
		m, _ := r.body["metadata"].(map[string]any)
		return m
	}
	base := "/images/" + id + "/metadata"
	r := a.nova("PUT", base, map[string]any{"metadata": map[string]string{"os_version": "value1", "os_distro": "value2"}}, "member")
	if r.must(t, http.StatusOK); !reflect.DeepEqual(r.body["metadata"], map[string]any{"os_version": "value1", "os_distro": "value2"}) {
		t.Fatalf("set: %s", r.raw)
	}
	if got := md(); !reflect.DeepEqual(got, map[string]any{"os_version": "value1", "os_distro": "value2"}) {
		t.Fatalf("after set (image_type replaced too): %v", got)
	}
	r = a.nova("POST", base, map[string]any{"metadata": map[string]string{"os_version": "alt1", "architecture": "value3"}}, "member")
	want := map[string]any{"os_version": "alt1", "os_distro": "value2", "architecture": "value3"}
	if r.must(t, http.StatusOK); !reflect.DeepEqual(r.body["metadata"], want) || !reflect.DeepEqual(md(), want) {
		t.Fatalf("update: %s", r.raw)
	}
	r = a.nova("GET", base+"/os_distro", nil, "member").must(t, http.StatusOK)
	if !reflect.DeepEqual(r.body, map[string]any{"meta": map[string]any{"os_distro": "value2"}}) {
		t.Fatalf("show key: %s", r.raw)
	}
	a.nova("GET", base+"/nope", nil, "member").fault(t, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
	r = a.nova("PUT", base+"/os_version", map[string]any{"meta": map[string]string{"os_version": "alt"}}, "member").must(t, http.StatusOK)
	if !reflect.DeepEqual(r.body, map[string]any{"meta": map[string]any{"os_version": "alt"}}) || md()["os_version"] != "alt" {
		t.Fatalf("set key: %s", r.raw)
	}
	a.nova("PUT", base+"/os_version", map[string]any{"meta": map[string]string{"other": "x"}}, "member").fault(t,
		http.StatusBadRequest, "badRequest", "Request body and URI mismatch")
	a.nova("PUT", base+"/os_version", map[string]any{"meta": map[string]string{"os_version": "x", "b": "y"}}, "member").must(t, http.StatusBadRequest)
	a.nova("PUT", base, map[string]any{"metadata": map[string]any{"k": 1}}, "member").must(t, http.StatusBadRequest)
	a.nova("POST", base, map[string]any{"meta": map[string]any{}}, "member").must(t, http.StatusBadRequest)
	a.nova("DELETE", base+"/os_version", nil, "member").must(t, http.StatusNoContent)
	a.nova("DELETE", base+"/os_version", nil, "member").fault(t, http.StatusNotFound, "itemNotFound", "Invalid metadata key")
	want = map[string]any{"os_distro": "value2", "architecture": "value3"}
	if got := md(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after delete: %v", got)
	}

	// Over the metadata quota: refused, nothing changed.
	a.nova("PUT", "/os-quota-sets/"+proxyCallers["member"].ProjectID, map[string]any{"quota_set": map[string]any{"metadata_items": 3}},
		"admin", "2.1").must(t, http.StatusOK)
	a.nova("POST", base, map[string]any{"metadata": map[string]string{"a": "1", "b": "2"}}, "member").fault(t,
		http.StatusForbidden, "forbidden", "Image metadata limit exceeded")
	a.nova("PUT", base+"/c", map[string]any{"meta": map[string]string{"c": "3"}}, "member").must(t, http.StatusOK)
	a.nova("PUT", base+"/d", map[string]any{"meta": map[string]string{"d": "4"}}, "member").must(t, http.StatusForbidden)
	if got := md(); len(got) != 3 {
		t.Fatalf("after refusals: %v", got)
	}

	// Another project's image and a missing one are 404; 2.39 has none.
	missing := "/images/" + uuid.NewString() + "/metadata"
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", base, nil}, {"POST", base, map[string]any{"metadata": map[string]string{"a": "b"}}},
		{"PUT", base, map[string]any{"metadata": map[string]string{"a": "b"}}}, {"GET", base + "/c", nil},
		{"PUT", base + "/c", map[string]any{"meta": map[string]string{"c": "x"}}}, {"DELETE", base + "/c", nil},
	} {
		a.nova(c.method, c.path, c.body, "alt").fault(t, http.StatusNotFound, "itemNotFound", "Image not found.")
		a.nova(c.method, strings.Replace(c.path, base, missing, 1), c.body, "member").must(t, http.StatusNotFound)
		a.nova(c.method, c.path, c.body, "member", "2.39").fault(t, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
	}
	if got := md(); len(got) != 3 {
		t.Fatalf("after refusals: %v", got)
	}
	a.nova("GET", base, nil, "member", "2.38").must(t, http.StatusOK)
}
