package image

import (
	"testing"
	"time"
)

// Images made within one second are shown with the same created_at (to
// the second, as Glance) but still sort in the order they were made, and
// a filter on the shown second finds them all.
func TestCreatedAtOrderWithinASecond(t *testing.T) {
	c := newTestCloud(t)
	base := time.Date(2026, 11, 24, 23, 48, 18, 0, time.UTC)
	var step time.Duration
	c.svc.now = func() time.Time { step += time.Millisecond; return base.Add(step) }
	var ids []string
	for _, name := range []string{"backup-1", "backup-2", "backup-3"} {
		ids = append(ids, c.must(201, "POST", "/v2/images", c.admin, map[string]any{"name": name})["id"].(string))
	}
	for _, dir := range []string{"asc", "desc"} {
		list := c.must(200, "GET", "/v2/images?sort_key=created_at&sort_dir="+dir+"&created_at=lte:2026-11-24T23:48:18Z", c.admin, nil)
		var got []string
		for _, im := range list["images"].([]any) {
			m := im.(map[string]any)
			if m["created_at"] != "2026-11-24T23:48:18Z" {
				t.Errorf("created_at shown %v", m["created_at"])
			}
			got = append(got, m["id"].(string))
		}
		want := ids
		if dir == "desc" {
			want = []string{ids[2], ids[1], ids[0]}
		}
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("sort_dir %s: %v, want %v", dir, got, want)
		}
	}
}
