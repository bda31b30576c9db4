package image

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// ListQuery is GET /v2/images' query, parsed.
type ListQuery struct {
	Limit        int
	Marker       string
	Sort         []SortKey
	Visibility   string
	MemberStatus string
	Hidden       *bool
	Filters      map[string]string // name, status, owner, disk_format, container_format, protected, custom properties
	Tags         []string
	SizeMin      *int64
	SizeMax      *int64
	Times        map[string][2]string // created_at/updated_at: op, time
}

// SortKey is one sort column and direction.
type SortKey struct {
	Key  string
	Desc bool
}

var sortable = map[string]bool{
	"name": true, "status": true, "container_format": true, "disk_format": true, "size": true, "id": true,
	"created_at": true, "updated_at": true, "visibility": true, "owner": true, "min_disk": true, "min_ram": true,
}

// ParseListQuery reads Glance's list parameters.
func (s *Service) ParseListQuery(q url.Values) (ListQuery, error) {
	lq := ListQuery{Limit: s.cfg.ListLimit, Filters: map[string]string{}, Times: map[string][2]string{}}
	bad := func(f string, a ...any) (ListQuery, error) { return lq, fault.BadRequestf(f, a...) }
	for key, vals := range q {
		v := vals[0]
		switch key {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return bad("limit param must be an integer")
			}
			lq.Limit = min(n, s.cfg.MaxListLimit)
		case "marker":
			lq.Marker = v
		case "sort_key", "sort_dir":
		case "sort":
			for _, part := range strings.Split(v, ",") {
				k, dir, _ := strings.Cut(strings.TrimSpace(part), ":")
				if !sortable[k] {
					return bad("Invalid sort key: %s. It should be one of the following: %s.", k, "name, status, container_format, disk_format, size, id, created_at, updated_at")
				}
				if dir != "" && dir != "asc" && dir != "desc" {
					return bad("Invalid sort direction: %s", dir)
				}
				lq.Sort = append(lq.Sort, SortKey{Key: k, Desc: dir != "asc"})
			}
		case "visibility":
			if !slices.Contains([]string{Public, Private, Shared, Community, "all"}, v) {
				return bad("Invalid visibility value: %s", v)
			}
			lq.Visibility = v
		case "member_status":
			if !slices.Contains([]string{MemberPending, MemberAccepted, MemberRejected, "all"}, v) {
				return bad("Invalid status value: %s", v)
			}
			lq.MemberStatus = v
		case "os_hidden":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("Invalid value for os_hidden: %s", v)
			}
			lq.Hidden = &b
		case "tag":
			lq.Tags = vals
		case "size_min", "size_max":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return bad("%s must be a non-negative integer", key)
			}
			if key == "size_min" {
				lq.SizeMin = &n
			} else {
				lq.SizeMax = &n
			}
		case "created_at", "updated_at":
			op, ts, ok := strings.Cut(v, ":")
			if !ok || !slices.Contains([]string{"gt", "gte", "lt", "lte", "eq", "neq"}, op) {
				return bad("Invalid time filter %s", v)
			}
			lq.Times[key] = [2]string{op, ts}
		default:
			lq.Filters[key] = v
		}
	}
	// sort_key/sort_dir, possibly repeated, are the older form of sort.
	if keys := q["sort_key"]; len(keys) > 0 {
		if len(lq.Sort) > 0 {
			return bad("The 'sort' parameter cannot be combined with sort_key or sort_dir.")
		}
		dirs := q["sort_dir"]
		for i, k := range keys {
			if !sortable[k] {
				return bad("Invalid sort key: %s.", k)
			}
			dir := "desc"
			if i < len(dirs) {
				dir = dirs[i]
			} else if len(dirs) > 0 {
				dir = dirs[len(dirs)-1]
			}
			if dir != "asc" && dir != "desc" {
				return bad("Invalid sort direction: %s", dir)
			}
			lq.Sort = append(lq.Sort, SortKey{Key: k, Desc: dir == "desc"})
		}
	} else if dirs := q["sort_dir"]; len(dirs) > 0 {
		if dirs[0] != "asc" && dirs[0] != "desc" {
			return bad("Invalid sort direction: %s", dirs[0])
		}
		lq.Sort = []SortKey{{Key: "created_at", Desc: dirs[0] == "desc"}}
	}
	if len(lq.Sort) == 0 {
		lq.Sort = []SortKey{{Key: "created_at", Desc: true}}
	}
	lq.Sort = append(lq.Sort, SortKey{Key: "id", Desc: true}) // a stable order for markers
	return lq, nil
}

// ListImages lists what the caller may see, filtered, sorted and paged.
// more is true when a next page may exist.
func (s *Service) ListImages(ctx context.Context, p *authn.Principal, lq ListQuery) (images []*Image, more bool, err error) {
	if err := s.authorize(p, "get_images", map[string]any{"owner": p.ProjectID}); err != nil {
		return nil, false, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+imageColumns+` FROM images`)
	if err != nil {
		return nil, false, err
	}
	var all []*Image
	for rows.Next() {
		img, err := scanImage(rows)
		if err != nil {
			rows.Close()
			return nil, false, err
		}
		all = append(all, img)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	members, err := memberStatuses(ctx, s.db, p.ProjectID)
	if err != nil {
		return nil, false, err
	}
	admin := isAdmin(s, p)
	var kept []*Image
	for _, img := range all {
		if !s.listable(img, p, admin, members, lq) {
			continue
		}
		if img.Tags, err = imageTags(ctx, s.db, img.ID); err != nil {
			return nil, false, err
		}
		if img.Copies, err = imageCopies(ctx, s.db, img.ID); err != nil {
			return nil, false, err
		}
		if matches(img, lq) {
			kept = append(kept, img)
		}
	}
	slices.SortFunc(kept, func(a, b *Image) int {
		for _, k := range lq.Sort {
			c := compareBy(a, b, k.Key)
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	if lq.Marker != "" {
		i := slices.IndexFunc(kept, func(img *Image) bool { return img.ID == lq.Marker })
		if i < 0 {
			return nil, false, fault.BadRequestf("marker %s could not be found.", lq.Marker)
		}
		kept = kept[i+1:]
	}
	if len(kept) > lq.Limit {
		return kept[:lq.Limit], true, nil
	}
	return kept, false, nil
}

// listable applies Glance's default listing visibility: one's own, public,
// and shared ones accepted (or of the asked member status); community
// only when asked for; hidden ones only when asked for.
func (s *Service) listable(img *Image, p *authn.Principal, admin bool, members map[string]string, lq ListQuery) bool {
	hidden := lq.Hidden != nil && *lq.Hidden
	if img.Hidden != hidden {
		return false
	}
	if lq.Visibility != "" && lq.Visibility != "all" && img.Visibility != lq.Visibility {
		return false
	}
	own := img.Owner == p.ProjectID
	memberStatus, isMember := members[img.ID]
	wantStatus := lq.MemberStatus
	if wantStatus == "" {
		wantStatus = MemberAccepted
	}
	memberOK := isMember && (wantStatus == "all" || memberStatus == wantStatus)
	if lq.MemberStatus != "" && !memberOK {
		return false
	}
	if admin {
		return lq.Visibility != "" || img.Visibility != Community || own
	}
	switch img.Visibility {
	case Public:
		return true
	case Community:
		return own || lq.Visibility == Community || lq.Visibility == "all"
	case Shared:
		return own || memberOK
	}
	return own
}

func matches(img *Image, lq ListQuery) bool {
	for k, want := range lq.Filters {
		got, ok := attrString(img, k)
		if strings.HasPrefix(want, "in:") {
			if !ok || !slices.Contains(strings.Split(want[3:], ","), got) {
				return false
			}
			continue
		}
		if !ok || got != want {
			return false
		}
	}
	for _, t := range lq.Tags {
		if !slices.Contains(img.Tags, t) {
			return false
		}
	}
	if lq.SizeMin != nil && (img.Size == nil || *img.Size < *lq.SizeMin) {
		return false
	}
	if lq.SizeMax != nil && (img.Size == nil || *img.Size > *lq.SizeMax) {
		return false
	}
	for k, f := range lq.Times {
		t := img.CreatedAt
		if k == "updated_at" {
			t = img.UpdatedAt
		}
		t = t.Truncate(time.Second) // as shown

		want, err := time.Parse(time.RFC3339, f[1])
		if err != nil {
			return false
		}
		c := t.Compare(want)
		ok := map[string]bool{"gt": c > 0, "gte": c >= 0, "lt": c < 0, "lte": c <= 0, "eq": c == 0, "neq": c != 0}[f[0]]
		if !ok {
			return false
		}
	}
	return true
}

// attrString is an attribute's value as a filter compares it.
func attrString(img *Image, k string) (string, bool) {
	deref := func(p *string) (string, bool) {
		if p == nil {
			return "", false
		}
		return *p, true
	}
	switch k {
	case "name":
		return deref(img.Name)
	case "status":
		return img.Status, true
	case "owner":
		return img.Owner, true
	case "id":
		return img.ID, true
	case "disk_format":
		return deref(img.DiskFormat)
	case "container_format":
		return deref(img.ContainerFormat)
	case "protected":
		return strconv.FormatBool(img.Protected), true
	case "min_disk":
		return strconv.Itoa(img.MinDisk), true
	case "min_ram":
		return strconv.Itoa(img.MinRAM), true
	case "size", "virtual_size":
		n := img.Size
		if k == "virtual_size" {
			n = img.VirtualSize
		}
		if n == nil {
			return "", false
		}
		return strconv.FormatInt(*n, 10), true
	case "checksum":
		return deref(img.Checksum)
	case "os_hash_value":
		return deref(img.HashValue)
	}
	v, ok := img.Properties[k]
	return v, ok
}

func compareBy(a, b *Image, key string) int {
	switch key {
	case "size":
		return cmp.Compare(val(a.Size), val(b.Size))
	case "created_at":
		return a.CreatedAt.Compare(b.CreatedAt)
	case "updated_at":
		return a.UpdatedAt.Compare(b.UpdatedAt)
	case "min_disk":
		return cmp.Compare(a.MinDisk, b.MinDisk)
	case "min_ram":
		return cmp.Compare(a.MinRAM, b.MinRAM)
	}
	x, _ := attrString(a, key)
	y, _ := attrString(b, key)
	if key == "visibility" {
		x, y = a.Visibility, b.Visibility
	}
	return strings.Compare(x, y)
}

func val(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}
