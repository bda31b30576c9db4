package image

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// queryer is what store functions need from *sql.DB or *sql.Tx.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const imageColumns = `id, name, status, visibility, protected, os_hidden, owner, disk_format, container_format,
	size, virtual_size, checksum, os_hash_algo, os_hash_value, min_disk, min_ram, store, location, properties,
	created_at, updated_at`

func scanImage(row interface{ Scan(...any) error }) (*Image, error) {
	var img Image
	var name, disk, container, checksum, algo, hash sql.NullString
	var size, vsize sql.NullInt64
	var props string
	var created, updated int64
	if err := row.Scan(&img.ID, &name, &img.Status, &img.Visibility, &img.Protected, &img.Hidden, &img.Owner,
		&disk, &container, &size, &vsize, &checksum, &algo, &hash, &img.MinDisk, &img.MinRAM, &img.Store,
		&img.Location, &props, &created, &updated); err != nil {
		return nil, err
	}
	img.Name, img.DiskFormat, img.ContainerFormat = strPtr(name), strPtr(disk), strPtr(container)
	img.Checksum, img.HashAlgo, img.HashValue = strPtr(checksum), strPtr(algo), strPtr(hash)
	img.Size, img.VirtualSize = intPtr(size), intPtr(vsize)
	img.Properties = map[string]string{}
	if props != "" && props != "{}" {
		_ = json.Unmarshal([]byte(props), &img.Properties)
	}
	img.CreatedAt, img.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return &img, nil
}

func strPtr(n sql.NullString) *string {
	if !n.Valid {
		return nil
	}
	return &n.String
}

func intPtr(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

func nullStr(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

func nullInt(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

func imageNotFound(id string) error {
	return fault.NotFoundf("No image found with ID %s", id)
}

func getImage(ctx context.Context, q queryer, id string) (*Image, error) {
	img, err := scanImage(q.QueryRowContext(ctx, `SELECT `+imageColumns+` FROM images WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, imageNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if img.Tags, err = imageTags(ctx, q, id); err != nil {
		return nil, err
	}
	img.Copies, err = imageCopies(ctx, q, id)
	return img, err
}

func imageCopies(ctx context.Context, q queryer, id string) ([]Location, error) {
	rows, err := q.QueryContext(ctx, `SELECT store, location FROM image_locations WHERE image_id = $1 ORDER BY store`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Location
	for rows.Next() {
		var l Location
		if err := rows.Scan(&l.Store, &l.Location); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// storeIDs are the stores holding an image's data, first one first.
func (img *Image) storeIDs() []string {
	if img.Store == "" {
		return nil
	}
	ids := []string{img.Store}
	for _, c := range img.Copies {
		ids = append(ids, c.Store)
	}
	return ids
}

func imageTags(ctx context.Context, q queryer, id string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT tag FROM image_tags WHERE image_id = $1 ORDER BY tag`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tags := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		tags = append(tags, t)
	}
	return tags, rows.Err()
}

func insertImage(ctx context.Context, q queryer, img *Image) error {
	props, _ := json.Marshal(img.Properties)
	_, err := q.ExecContext(ctx, `INSERT INTO images (`+imageColumns+`) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
		img.ID, nullStr(img.Name), img.Status, img.Visibility, img.Protected, img.Hidden, img.Owner,
		nullStr(img.DiskFormat), nullStr(img.ContainerFormat), nullInt(img.Size), nullInt(img.VirtualSize),
		nullStr(img.Checksum), nullStr(img.HashAlgo), nullStr(img.HashValue), img.MinDisk, img.MinRAM,
		img.Store, img.Location, string(props), img.CreatedAt.UnixMicro(), img.UpdatedAt.UnixMicro())
	if err != nil {
		return err
	}
	return setTags(ctx, q, img.ID, img.Tags)
}

func updateImage(ctx context.Context, q queryer, img *Image) error {
	props, _ := json.Marshal(img.Properties)
	_, err := q.ExecContext(ctx, `UPDATE images SET name = $2, status = $3, visibility = $4, protected = $5,
		os_hidden = $6, owner = $7, disk_format = $8, container_format = $9, size = $10, virtual_size = $11,
		checksum = $12, os_hash_algo = $13, os_hash_value = $14, min_disk = $15, min_ram = $16, store = $17,
		location = $18, properties = $19, updated_at = $20 WHERE id = $1`,
		img.ID, nullStr(img.Name), img.Status, img.Visibility, img.Protected, img.Hidden, img.Owner,
		nullStr(img.DiskFormat), nullStr(img.ContainerFormat), nullInt(img.Size), nullInt(img.VirtualSize),
		nullStr(img.Checksum), nullStr(img.HashAlgo), nullStr(img.HashValue), img.MinDisk, img.MinRAM,
		img.Store, img.Location, string(props), img.UpdatedAt.UnixMicro())
	if err != nil {
		return err
	}
	return setTags(ctx, q, img.ID, img.Tags)
}

func setTags(ctx context.Context, q queryer, id string, tags []string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM image_tags WHERE image_id = $1`, id); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, err := q.ExecContext(ctx, `INSERT INTO image_tags (image_id, tag) VALUES ($1, $2)`, id, t); err != nil {
			return err
		}
	}
	return nil
}

func getMember(ctx context.Context, q queryer, imageID, memberID string) (*Member, error) {
	var m Member
	var created, updated int64
	err := q.QueryRowContext(ctx, `SELECT image_id, member_id, status, created_at, updated_at FROM image_members
		WHERE image_id = $1 AND member_id = $2`, imageID, memberID).Scan(&m.ImageID, &m.MemberID, &m.Status, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("%s not found in the member list of the image %s.", memberID, imageID)
	}
	if err != nil {
		return nil, err
	}
	m.CreatedAt, m.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return &m, nil
}

func listMembers(ctx context.Context, q queryer, imageID string) ([]Member, error) {
	rows, err := q.QueryContext(ctx, `SELECT image_id, member_id, status, created_at, updated_at FROM image_members
		WHERE image_id = $1 ORDER BY created_at, member_id`, imageID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var created, updated int64
		if err := rows.Scan(&m.ImageID, &m.MemberID, &m.Status, &created, &updated); err != nil {
			return nil, err
		}
		m.CreatedAt, m.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// memberStatuses maps image id to the caller project's member status.
func memberStatuses(ctx context.Context, q queryer, project string) (map[string]string, error) {
	out := map[string]string{}
	if project == "" {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT image_id, status FROM image_members WHERE member_id = $1`, project)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
