package image

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// readOnly are attributes a caller may never set; Glance answers 403.
var readOnly = map[string]bool{
	"status": true, "checksum": true, "size": true, "virtual_size": true, "created_at": true,
	"updated_at": true, "file": true, "self": true, "schema": true, "direct_url": true,
	"os_hash_algo": true, "os_hash_value": true, "stores": true,
}

// reserved are names that are not image properties at all.
var reserved = map[string]bool{"deleted": true, "deleted_at": true, "location": true, "locations": true}

// reservedNS prefixes the properties Glance keeps for itself (os_glance_*).
const reservedNS = "os_glance"

func isReserved(k string) bool { return reserved[k] || strings.HasPrefix(k, reservedNS) }

// core attributes with their own columns.
var core = map[string]bool{
	"id": true, "name": true, "visibility": true, "protected": true, "os_hidden": true, "owner": true,
	"disk_format": true, "container_format": true, "min_disk": true, "min_ram": true, "tags": true,
}

// canSee says whether the caller may see an image at all: Glance's
// visibility rules. A member sees a shared image whatever its status.
func (s *Service) canSee(ctx context.Context, p *authn.Principal, img *Image) (bool, error) {
	if isAdmin(s, p) || img.Owner == p.ProjectID {
		return true, nil
	}
	switch img.Visibility {
	case Public, Community:
		return true, nil
	case Shared:
		_, err := getMember(ctx, s.db, img.ID, p.ProjectID)
		if fault.Is(err, fault.NotFound) {
			return false, nil
		}
		return err == nil, err
	}
	return false, nil
}

// visibleImage loads an image the caller may see; 404 otherwise, so that
// other projects' private images do not even show they exist.
func (s *Service) visibleImage(ctx context.Context, p *authn.Principal, id string) (*Image, error) {
	if !validUUID(id) {
		return nil, imageNotFound(id)
	}
	img, err := getImage(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	ok, err := s.canSee(ctx, p, img)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, imageNotFound(id)
	}
	return img, nil
}

// GetImage returns one image.
func (s *Service) GetImage(ctx context.Context, p *authn.Principal, id string) (*Image, error) {
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "get_image", target(img)); err != nil {
		return nil, err
	}
	return img, nil
}

// CreateImage records a queued image without data.
func (s *Service) CreateImage(ctx context.Context, p *authn.Principal, attrs map[string]any) (*Image, error) {
	// Shown to the second, as Glance, but kept to the microsecond so that
	// images made within one second still sort in the order they were
	// made (backup rotation deletes the oldest); filters compare seconds.
	now := s.now().UTC().Truncate(time.Microsecond)
	img := &Image{ID: uuid.NewString(), Status: StatusQueued, Visibility: Shared, Owner: p.ProjectID,
		Properties: map[string]string{}, Tags: []string{}, CreatedAt: now, UpdatedAt: now}
	for k, v := range attrs {
		if err := s.setAttr(img, k, v, true); err != nil {
			return nil, err
		}
	}
	if img.Owner == "" {
		return nil, fault.Forbiddenf("You are not authorized to create an image without an owning project.")
	}
	if err := s.authorize(p, "add_image", target(img)); err != nil {
		return nil, err
	}
	if img.Owner != p.ProjectID && !isAdmin(s, p) {
		return nil, fault.Forbiddenf("You are not permitted to create images owned by '%s'.", img.Owner)
	}
	if err := s.checkVisibilityChange(p, img, ""); err != nil {
		return nil, err
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if s.cfg.QuotaImages > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM images WHERE owner = $1`, img.Owner).Scan(&n); err != nil {
				return err
			}
			if n >= s.cfg.QuotaImages {
				return fault.New(fault.OverLimit, "Maximum number of images (%d) exceeded for project %s.", s.cfg.QuotaImages, img.Owner)
			}
		}
		err := insertImage(ctx, tx, img)
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Image with identifier %s already exists!", img.ID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// checkVisibilityChange applies publicize/communitize rules when
// visibility becomes old != new.
func (s *Service) checkVisibilityChange(p *authn.Principal, img *Image, old string) error {
	if img.Visibility == old {
		return nil
	}
	switch img.Visibility {
	case Public:
		return s.authorize(p, "publicize_image", target(img))
	case Community:
		return s.authorize(p, "communitize_image", target(img))
	}
	return nil
}

// setAttr sets one attribute from a request; create allows id.
func (s *Service) setAttr(img *Image, k string, v any, create bool) error {
	if readOnly[k] {
		return fault.Forbiddenf("Attribute '%s' is read-only.", k)
	}
	if isReserved(k) {
		return fault.Forbiddenf("Attribute '%s' is reserved.", k)
	}
	str := func() (string, error) {
		s, ok := v.(string)
		if !ok {
			return "", fault.BadRequestf("Invalid value for '%s': expected a string.", k)
		}
		return s, nil
	}
	optStr := func(max int, allowed []string) (*string, error) {
		if v == nil {
			return nil, nil
		}
		s, err := str()
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(s) > max {
			return nil, fault.BadRequestf("Invalid value for '%s': longer than %d characters.", k, max)
		}
		if allowed != nil && !slices.Contains(allowed, s) {
			return nil, fault.BadRequestf("Invalid value '%s' for '%s': must be one of %s.", s, k, strings.Join(allowed, ", "))
		}
		return &s, nil
	}
	nonNegInt := func() (int, error) {
		f, ok := v.(float64)
		if !ok || f < 0 || f != float64(int(f)) || f > 1<<31 {
			return 0, fault.BadRequestf("Invalid value for '%s': expected a non-negative integer.", k)
		}
		return int(f), nil
	}
	boolean := func() (bool, error) {
		b, ok := v.(bool)
		if !ok {
			return false, fault.BadRequestf("Invalid value for '%s': expected a boolean.", k)
		}
		return b, nil
	}
	var err error
	switch k {
	case "id":
		if !create {
			return fault.Forbiddenf("Attribute 'id' is read-only.")
		}
		id, e := str()
		if e != nil {
			return e
		}
		if !validUUID(id) {
			return fault.BadRequestf("Invalid value '%s' for 'id': not a UUID.", id)
		}
		img.ID = strings.ToLower(id)
	case "name":
		img.Name, err = optStr(255, nil)
	case "disk_format":
		if !create && img.Status != StatusQueued {
			return fault.Forbiddenf("Attribute disk_format can be only replaced for a queued image.")
		}
		img.DiskFormat, err = optStr(255, DiskFormats)
	case "container_format":
		if !create && img.Status != StatusQueued {
			return fault.Forbiddenf("Attribute container_format can be only replaced for a queued image.")
		}
		img.ContainerFormat, err = optStr(255, ContainerFormats)
	case "visibility":
		var vis *string
		vis, err = optStr(255, []string{Public, Private, Shared, Community})
		if err == nil && vis == nil {
			err = fault.BadRequestf("Invalid value for 'visibility': null.")
		}
		if err == nil {
			img.Visibility = *vis
		}
	case "owner":
		var o *string
		o, err = optStr(255, nil)
		if err == nil {
			img.Owner = ""
			if o != nil {
				img.Owner = *o
			}
		}
	case "protected":
		img.Protected, err = boolean()
	case "os_hidden":
		img.Hidden, err = boolean()
	case "min_disk":
		img.MinDisk, err = nonNegInt()
	case "min_ram":
		img.MinRAM, err = nonNegInt()
	case "tags":
		list, ok := v.([]any)
		if !ok {
			return fault.BadRequestf("Invalid value for 'tags': expected a list of strings.")
		}
		tags := []string{}
		for _, t := range list {
			ts, ok := t.(string)
			if !ok || ts == "" || utf8.RuneCountInString(ts) > 255 {
				return fault.BadRequestf("Invalid value for 'tags': each tag must be a string of 1 to 255 characters.")
			}
			if !slices.Contains(tags, ts) {
				tags = append(tags, ts)
			}
		}
		slices.Sort(tags)
		img.Tags = tags
	default:
		if k == "" || utf8.RuneCountInString(k) > 255 {
			return fault.BadRequestf("Invalid property name.")
		}
		s, ok := v.(string)
		if !ok {
			return fault.BadRequestf("Invalid value for property '%s': properties are strings.", k)
		}
		if len(s) > 65535 {
			return fault.BadRequestf("Invalid value for property '%s': too long.", k)
		}
		img.Properties[k] = s
	}
	return err
}

// PatchOp is one JSON-patch operation of an image update.
type PatchOp struct {
	Op       string
	Path     string
	Value    any
	HasValue bool
	Draft4   bool // the v2.0 media type: add of an existing property is a conflict
}

// UpdateImage applies JSON-patch operations.
func (s *Service) UpdateImage(ctx context.Context, p *authn.Principal, id string, ops []PatchOp) (*Image, error) {
	var out *Image
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		img, err := s.visibleImage(ctx, p, id)
		if err != nil {
			return err
		}
		if err := s.authorize(p, "modify_image", target(img)); err != nil {
			return err
		}
		oldVis, oldOwner := img.Visibility, img.Owner
		for _, op := range ops {
			if err := s.applyOp(img, op); err != nil {
				return err
			}
		}
		if img.Owner != oldOwner && !isAdmin(s, p) {
			return fault.Forbiddenf("Only an administrator may change the owner of an image.")
		}
		if err := s.checkVisibilityChange(p, img, oldVis); err != nil {
			return err
		}
		img.UpdatedAt = s.now().UTC().Truncate(1e9)
		if err := updateImage(ctx, tx, img); err != nil {
			return err
		}
		out = img
		return nil
	})
	return out, err
}

func (s *Service) applyOp(img *Image, op PatchOp) error {
	path := strings.TrimPrefix(op.Path, "/")
	if path == "" || path == op.Path || strings.Contains(path, "/") {
		if strings.HasPrefix(path, "locations") {
			return fault.Forbiddenf("It's not allowed to update locations of images.")
		}
		return fault.BadRequestf("Invalid JSON pointer for this resource: '%s'", op.Path)
	}
	path = strings.ReplaceAll(strings.ReplaceAll(path, "~1", "/"), "~0", "~")
	switch op.Op {
	case "add", "replace":
		if !op.HasValue {
			return fault.BadRequestf("Operation objects must contain a 'value' member.")
		}
		if !core[path] && !readOnly[path] && !isReserved(path) {
			_, ok := img.Properties[path]
			if op.Op == "replace" && !ok {
				return fault.Conflictf("Property %s does not exist.", path)
			}
			if op.Op == "add" && ok && op.Draft4 {
				return fault.Conflictf("Property %s already present.", path)
			}
		}
		return s.setAttr(img, path, op.Value, false)
	case "remove":
		if readOnly[path] || core[path] {
			return fault.Forbiddenf("Attribute '%s' is read-only.", path)
		}
		if isReserved(path) {
			return fault.Forbiddenf("Attribute '%s' is reserved.", path)
		}
		if _, ok := img.Properties[path]; !ok {
			return fault.Conflictf("Property %s does not exist.", path)
		}
		delete(img.Properties, path)
		return nil
	}
	return fault.BadRequestf("Invalid operation: `%s`. It must be one of the following: add, remove, replace.", op.Op)
}

// DeleteImage removes an image; its data goes with it. The returned
// location (if any) is for the caller to delete from the store after the
// record is gone, so a crash never leaves a record without data.
func (s *Service) DeleteImage(ctx context.Context, p *authn.Principal, id string) (*Image, error) {
	var out *Image
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		img, err := s.visibleImage(ctx, p, id)
		if err != nil {
			return err
		}
		if err := s.authorize(p, "delete_image", target(img)); err != nil {
			return err
		}
		if img.Protected {
			return fault.Forbiddenf("Image %s is protected and cannot be deleted.", id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM images WHERE id = $1`, id); err != nil {
			return err
		}
		out = img
		return nil
	})
	return out, err
}

// SetActive deactivates (false) or reactivates (true) an image.
func (s *Service) SetActive(ctx context.Context, p *authn.Principal, id string, active bool) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		img, err := s.visibleImage(ctx, p, id)
		if err != nil {
			return err
		}
		rule := "deactivate"
		if active {
			rule = "reactivate"
		}
		if err := s.authorize(p, rule, target(img)); err != nil {
			return err
		}
		switch {
		case active && img.Status == StatusActive, !active && img.Status == StatusDeactivated:
			return nil
		case img.Status != StatusActive && img.Status != StatusDeactivated:
			return fault.Forbiddenf("Not allowed to %s image in status '%s'", rule, img.Status)
		}
		img.Status = StatusDeactivated
		if active {
			img.Status = StatusActive
		}
		img.UpdatedAt = s.now().UTC().Truncate(1e9)
		return updateImage(ctx, tx, img)
	})
}

// AddTag and DeleteTag change one tag.
func (s *Service) AddTag(ctx context.Context, p *authn.Principal, id, tag string) error {
	if tag == "" || utf8.RuneCountInString(tag) > 255 {
		return fault.BadRequestf("Invalid tag: must be 1 to 255 characters.")
	}
	return s.changeTags(ctx, p, id, func(tags []string) ([]string, error) {
		if slices.Contains(tags, tag) {
			return tags, nil
		}
		return append(tags, tag), nil
	})
}

// DeleteTag removes one tag; 404 if absent.
func (s *Service) DeleteTag(ctx context.Context, p *authn.Principal, id, tag string) error {
	return s.changeTags(ctx, p, id, func(tags []string) ([]string, error) {
		i := slices.Index(tags, tag)
		if i < 0 {
			return nil, fault.NotFoundf("Tag %s not found.", tag)
		}
		return slices.Delete(tags, i, i+1), nil
	})
}

func (s *Service) changeTags(ctx context.Context, p *authn.Principal, id string, change func([]string) ([]string, error)) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		img, err := s.visibleImage(ctx, p, id)
		if err != nil {
			return err
		}
		if err := s.authorize(p, "modify_image", target(img)); err != nil {
			return err
		}
		tags, err := change(img.Tags)
		if err != nil {
			return err
		}
		img.Tags = tags
		img.UpdatedAt = s.now().UTC().Truncate(1e9)
		return updateImage(ctx, tx, img)
	})
}
