package image

import (
	"crypto/rand"
	"encoding/json"
	"testing"
)

// Behaviours that tempest.api.image checks and Nimbus once got wrong.

// patch04 sends a PATCH in the v2.0 media type (JSON patch draft 4, where
// the operation is the key), as tempest's images client does.
func (c *testCloud) patch04(token, id string, ops []map[string]any) (int, map[string]any) {
	c.t.Helper()
	data, _ := json.Marshal(ops)
	resp, out := c.raw(c.srv.URL, "PATCH", "/v2/images/"+id, token, "application/openstack-images-v2.0-json-patch", data)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

func TestPatchDraft4(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "a", "protected": true, "colour": "red"})
	id := img["id"].(string)

	code, got := c.patch04(c.alice, id, []map[string]any{{"replace": "/name", "value": "b"}, {"replace": "/protected", "value": false}})
	if code != 200 || got["name"] != "b" || got["protected"] != false {
		t.Fatalf("draft-4 replace = %d %v", code, got)
	}
	if code, got = c.patch04(c.alice, id, []map[string]any{{"add": "/shape", "value": "round"}}); code != 200 || got["shape"] != "round" {
		t.Fatalf("draft-4 add = %d %v", code, got)
	}
	// Draft 4 add does not replace: Glance answers 409.
	if code, _ = c.patch04(c.alice, id, []map[string]any{{"add": "/colour", "value": "blue"}}); code != 409 {
		t.Fatalf("draft-4 add of an existing property = %d, want 409", code)
	}
	if code, got = c.patch04(c.alice, id, []map[string]any{{"remove": "/shape"}}); code != 200 || got["shape"] != nil {
		t.Fatalf("draft-4 remove = %d %v", code, got)
	}
	for _, bad := range [][]map[string]any{
		{{"op": "replace", "path": "/name", "value": "c"}}, // the v2.1 form
		{{"add": "/x", "replace": "/y", "value": "z"}},     // two operations
	} {
		if code, _ = c.patch04(c.alice, id, bad); code != 400 {
			t.Errorf("draft-4 patch %v = %d, want 400", bad, code)
		}
	}
	// v2.1 add of an existing property replaces it.
	got = c.must(200, "PATCH", "/v2/images/"+id, c.alice, []map[string]any{{"op": "add", "path": "/colour", "value": "blue"}})
	if got["colour"] != "blue" {
		t.Fatalf("v2.1 add = %v", got)
	}
}

func TestReservedNamespace(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	c.must(403, "POST", "/v2/images", c.alice, map[string]any{"name": "a", "os_glance_foo": "bar"})
	id := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "a"})["id"].(string)
	if code, _ := c.patch04(c.alice, id, []map[string]any{{"add": "/os_glance_foo", "value": "bar"}}); code != 403 {
		t.Fatalf("draft-4 add os_glance_foo = %d, want 403", code)
	}
	c.must(403, "PATCH", "/v2/images/"+id, c.alice, []map[string]any{{"op": "add", "path": "/os_glance_import_task", "value": "x"}})
	c.must(403, "PATCH", "/v2/images/"+id, c.alice, []map[string]any{{"op": "remove", "path": "/os_glance_import_task"}})
}

// Glance's default policy lets members of the owning project deactivate
// and reactivate; a deactivated image's data is refused to non-admins.
func TestOwnerDeactivates(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	id := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "a", "disk_format": "raw", "container_format": "bare", "visibility": "community"})["id"].(string)
	if code, body := c.upload(c.alice, id, []byte("some raw bytes")); code != 204 {
		t.Fatalf("upload = %d %s", code, body)
	}
	c.must(403, "POST", "/v2/images/"+id+"/actions/deactivate", c.bob, nil)
	c.must(204, "POST", "/v2/images/"+id+"/actions/deactivate", c.alice, nil)
	if st := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)["status"]; st != "deactivated" {
		t.Fatalf("status = %v", st)
	}
	c.must(403, "GET", "/v2/images/"+id+"/file", c.alice, nil)
	c.must(403, "POST", "/v2/images/"+id+"/actions/reactivate", c.bob, nil)
	c.must(204, "POST", "/v2/images/"+id+"/actions/reactivate", c.alice, nil)
	c.must(200, "GET", "/v2/images/"+id+"/file", c.alice, nil)
}

// Only a bare container's data is a disk: Glance inspects nothing else,
// so tempest's random bytes as (ami, vhd) become active.
func TestOnlyBareContainersAreInspected(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	data := make([]byte, 2048)
	rand.Read(data)
	for _, tc := range []struct {
		container, disk string
		want            int
	}{
		{"ami", "vhd", 204},
		{"ovf", "qcow2", 204},
		{"bare", "ami", 204}, // not inspectable: raw data is fine
		{"bare", "vhd", 400},
		{"bare", "qcow2", 400},
	} {
		id := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"disk_format": tc.disk, "container_format": tc.container})["id"].(string)
		if code, body := c.upload(c.alice, id, data); code != tc.want {
			t.Errorf("upload of random data as (%s, %s) = %d %s, want %d", tc.container, tc.disk, code, body, tc.want)
		}
	}
}

func TestMetadefSchemas(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	for path, name := range map[string]string{
		"namespace": "namespace", "namespaces": "namespaces", "object": "object", "objects": "objects",
		"property": "property", "properties": "properties", "tag": "tag", "tags": "tags",
		"resource_type": "resource_type_association", "resource_types": "resource_type_associations",
	} {
		if got := c.must(200, "GET", "/v2/schemas/metadefs/"+path, c.alice, nil)["name"]; got != name {
			t.Errorf("schema metadefs/%s name = %v, want %s", path, got, name)
		}
	}
}

// GET /v2/images?size=N lists the images of exactly that size.
func TestListFilterSize(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	ids := map[int]string{}
	for _, n := range []int{1000, 2000} {
		id := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"disk_format": "raw", "container_format": "bare"})["id"].(string)
		if code, body := c.upload(c.alice, id, make([]byte, n)); code != 204 {
			t.Fatalf("upload = %d %s", code, body)
		}
		ids[n] = id
	}
	got := c.must(200, "GET", "/v2/images?size=2000", c.alice, nil)["images"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["id"] != ids[2000] {
		t.Fatalf("images of size 2000 = %v", got)
	}
	if got := c.must(200, "GET", "/v2/images?size=3000", c.alice, nil)["images"].([]any); len(got) != 0 {
		t.Fatalf("images of size 3000 = %v", got)
	}
}
