package compute

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// querier is a transaction or the database itself.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// args collects the arguments of a query built piece by piece and hands
// out their $n placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// ---- flavors

const flavorColumns = `f.id, f.flavorid, f.name, f.memory_mb, f.vcpus, f.root_gb, f.ephemeral_gb, f.swap,
	f.rxtx_factor, f.vcpu_weight, f.disabled, f.is_public, f.description, f.created_at, f.updated_at`

func scanFlavor(sc interface{ Scan(...any) error }) (*Flavor, error) {
	var f Flavor
	var weight sql.NullInt64
	var desc sql.NullString
	var created int64
	var updated sql.NullInt64
	if err := sc.Scan(&f.ID, &f.FlavorID, &f.Name, &f.MemoryMB, &f.VCPUs, &f.RootGB, &f.EphemeralGB, &f.SwapMB,
		&f.RXTXFactor, &weight, &f.Disabled, &f.IsPublic, &desc, &created, &updated); err != nil {
		return nil, err
	}
	if weight.Valid {
		w := weight.Int64
		f.VCPUWeight = &w
	}
	if desc.Valid {
		d := desc.String
		f.Description = &d
	}
	f.CreatedAt = fromMicros(created)
	f.UpdatedAt = fromMicros(updated.Int64)
	return &f, nil
}

// visibleFlavor is the condition Nova puts on every flavor query of a
// non-admin: public, or shared with the caller's project.
func visibleFlavor(a *args, projectID string) string {
	return `(f.is_public = TRUE OR EXISTS (SELECT 1 FROM flavor_projects fp WHERE fp.flavor_id = f.id AND fp.project_id = ` +
		a.add(projectID) + `))`
}

// getFlavor finds a flavor by its API id; all = see private flavors not
// shared with projectID (admins). Nil when there is none.
func getFlavor(ctx context.Context, q querier, flavorID string, all bool, projectID string) (*Flavor, error) {
	var a args
	where := "f.flavorid = " + a.add(flavorID)
	if !all {
		where += " AND " + visibleFlavor(&a, projectID)
	}
	f, err := scanFlavor(q.QueryRowContext(ctx, `SELECT `+flavorColumns+` FROM flavors f WHERE `+where, a...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get flavor %s: %w", flavorID, err)
	}
	specs, err := loadExtraSpecs(ctx, q, []*Flavor{f})
	if err != nil {
		return nil, err
	}
	f.ExtraSpecs = specs[f.ID]
	return f, nil
}

// flavorSortColumns maps Nova's flavor sort keys to columns; nullable
// ones sort as if empty.
var flavorSortColumns = map[string]string{
	"created_at": "f.created_at", "description": "COALESCE(f.description, '')", "disabled": "f.disabled",
	"ephemeral_gb": "f.ephemeral_gb", "flavorid": "f.flavorid", "id": "f.id", "is_public": "f.is_public",
	"memory_mb": "f.memory_mb", "name": "f.name", "root_gb": "f.root_gb", "rxtx_factor": "f.rxtx_factor",
	"swap": "f.swap", "updated_at": "COALESCE(f.updated_at, 0)", "vcpu_weight": "COALESCE(f.vcpu_weight, 0)",
	"vcpus": "f.vcpus",
}

var errMarkerNotFound = errors.New("marker not found")

// listFlavors pages through flavors as Nova's flavor_get_all: filters,
// then the sort key with the internal id breaking ties, from after the
// marker.
func listFlavors(ctx context.Context, q querier, fq FlavorQuery, all bool, projectID string, limit int) ([]*Flavor, error) {
	var a args
	conds := []string{"TRUE"}
	if !all {
		conds = append(conds, visibleFlavor(&a, projectID))
	}
	if fq.MinRAM != nil {
		conds = append(conds, "f.memory_mb >= "+a.add(*fq.MinRAM))
	}
	if fq.MinDisk != nil {
		conds = append(conds, "f.root_gb >= "+a.add(*fq.MinDisk))
	}
	if !all {
		conds = append(conds, "f.disabled = FALSE")
	}
	if fq.IsPublic != nil {
		switch {
		case *fq.IsPublic && projectID != "":
			conds = append(conds, visibleFlavor(&a, projectID))
		case *fq.IsPublic:
			conds = append(conds, "f.is_public = TRUE")
		default:
			conds = append(conds, "f.is_public = FALSE")
		}
	}
	col := flavorSortColumns[fq.SortKey]
	if col == "" {
		col = flavorSortColumns["flavorid"]
	}
	dir, cmp := "ASC", ">"
	if fq.SortDir == "desc" {
		dir, cmp = "DESC", "<"
	}
	if fq.Marker != "" {
		var ma args
		mwhere := "f.flavorid = " + ma.add(fq.Marker)
		if !all {
			mwhere += " AND " + visibleFlavor(&ma, projectID)
		}
		var markerID int64
		err := q.QueryRowContext(ctx, `SELECT f.id FROM flavors f WHERE `+mwhere, ma...).Scan(&markerID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errMarkerNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("find marker flavor: %w", err)
		}
		mcol := strings.ReplaceAll(col, "f.", "m.")
		mk := "(SELECT " + mcol + " FROM flavors m WHERE m.id = " + a.add(markerID) + ")"
		conds = append(conds, "("+col+" "+cmp+" "+mk+" OR ("+col+" = "+mk+" AND f.id "+cmp+" "+a.add(markerID)+"))")
	}
	query := `SELECT ` + flavorColumns + ` FROM flavors f WHERE ` + strings.Join(conds, " AND ") +
		` ORDER BY ` + col + ` ` + dir + `, f.id ` + dir + ` LIMIT ` + a.add(limit)
	rows, err := q.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("list flavors: %w", err)
	}
	defer rows.Close()
	var out []*Flavor
	for rows.Next() {
		f, err := scanFlavor(rows)
		if err != nil {
			return nil, fmt.Errorf("list flavors: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list flavors: %w", err)
	}
	specs, err := loadExtraSpecs(ctx, q, out)
	if err != nil {
		return nil, err
	}
	for _, f := range out {
		f.ExtraSpecs = specs[f.ID]
	}
	return out, nil
}

// loadExtraSpecs reads the extra specs of flavors in one query; every
// flavor gets a map, empty if it has none.
func loadExtraSpecs(ctx context.Context, q querier, flavors []*Flavor) (map[int64]map[string]string, error) {
	out := make(map[int64]map[string]string, len(flavors))
	if len(flavors) == 0 {
		return out, nil
	}
	var a args
	ph := make([]string, len(flavors))
	for i, f := range flavors {
		out[f.ID] = map[string]string{}
		ph[i] = a.add(f.ID)
	}
	rows, err := q.QueryContext(ctx, `SELECT flavor_id, key, value FROM flavor_extra_specs WHERE flavor_id IN (`+
		strings.Join(ph, ", ")+`)`, a...)
	if err != nil {
		return nil, fmt.Errorf("load extra specs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return nil, fmt.Errorf("load extra specs: %w", err)
		}
		out[id][k] = v
	}
	return out, rows.Err()
}

func insertFlavor(ctx context.Context, q querier, f *Flavor) error {
	var desc any
	if f.Description != nil {
		desc = *f.Description
	}
	err := q.QueryRowContext(ctx, `INSERT INTO flavors (flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap,
		rxtx_factor, disabled, is_public, description, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9, $10, $11) RETURNING id`,
		f.FlavorID, f.Name, f.MemoryMB, f.VCPUs, f.RootGB, f.EphemeralGB, f.SwapMB, f.RXTXFactor, f.IsPublic, desc,
		micros(f.CreatedAt)).Scan(&f.ID)
	if err != nil {
		return fmt.Errorf("insert flavor %s: %w", f.FlavorID, err)
	}
	return nil
}

// flavorExists reports which of the flavor's unique values is taken.
func flavorTaken(ctx context.Context, q querier, flavorID, name string) (idTaken, nameTaken bool, err error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM flavors WHERE flavorid = $1`, flavorID).Scan(&n); err != nil {
		return false, false, fmt.Errorf("check flavor id: %w", err)
	}
	idTaken = n > 0
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM flavors WHERE name = $1`, name).Scan(&n); err != nil {
		return false, false, fmt.Errorf("check flavor name: %w", err)
	}
	return idTaken, n > 0, nil
}

func updateFlavorDescription(ctx context.Context, q querier, id int64, desc *string, now time.Time) error {
	var d any
	if desc != nil {
		d = *desc
	}
	_, err := q.ExecContext(ctx, `UPDATE flavors SET description = $1, updated_at = $2 WHERE id = $3`, d, micros(now), id)
	if err != nil {
		return fmt.Errorf("update flavor: %w", err)
	}
	return nil
}

func touchFlavor(ctx context.Context, q querier, id int64, now time.Time) error {
	if _, err := q.ExecContext(ctx, `UPDATE flavors SET updated_at = $1 WHERE id = $2`, micros(now), id); err != nil {
		return fmt.Errorf("update flavor: %w", err)
	}
	return nil
}

func deleteFlavor(ctx context.Context, q querier, flavorID string) (bool, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM flavors WHERE flavorid = $1`, flavorID)
	if err != nil {
		return false, fmt.Errorf("delete flavor %s: %w", flavorID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func countFlavors(ctx context.Context, q querier) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM flavors`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count flavors: %w", err)
	}
	return n, nil
}

// setExtraSpecs adds or replaces the given keys.
func setExtraSpecs(ctx context.Context, q querier, flavorID int64, specs map[string]string) error {
	for k, v := range specs {
		if _, err := q.ExecContext(ctx, `INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES ($1, $2, $3)
			ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value`, flavorID, k, v); err != nil {
			return fmt.Errorf("set extra spec %s: %w", k, err)
		}
	}
	return nil
}

func deleteExtraSpec(ctx context.Context, q querier, flavorID int64, key string) (bool, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM flavor_extra_specs WHERE flavor_id = $1 AND key = $2`, flavorID, key)
	if err != nil {
		return false, fmt.Errorf("delete extra spec %s: %w", key, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func flavorProjects(ctx context.Context, q querier, flavorID int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT project_id FROM flavor_projects WHERE flavor_id = $1 ORDER BY project_id`, flavorID)
	if err != nil {
		return nil, fmt.Errorf("list flavor access: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// addFlavorProject adds access; false if the project already had it.
func addFlavorProject(ctx context.Context, q querier, flavorID int64, projectID string) (bool, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO flavor_projects (flavor_id, project_id) VALUES ($1, $2)
		ON CONFLICT (flavor_id, project_id) DO NOTHING`, flavorID, projectID)
	if err != nil {
		return false, fmt.Errorf("add flavor access: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func removeFlavorProject(ctx context.Context, q querier, flavorID int64, projectID string) (bool, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM flavor_projects WHERE flavor_id = $1 AND project_id = $2`, flavorID, projectID)
	if err != nil {
		return false, fmt.Errorf("remove flavor access: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ---- key pairs

const keyPairColumns = `id, user_id, name, type, fingerprint, public_key, created_at`

func scanKeyPair(sc interface{ Scan(...any) error }) (*KeyPair, error) {
	var k KeyPair
	var created int64
	if err := sc.Scan(&k.ID, &k.UserID, &k.Name, &k.Type, &k.Fingerprint, &k.PublicKey, &created); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(created)
	return &k, nil
}

func getKeyPair(ctx context.Context, q querier, userID, name string) (*KeyPair, error) {
	k, err := scanKeyPair(q.QueryRowContext(ctx, `SELECT `+keyPairColumns+` FROM key_pairs WHERE user_id = $1 AND name = $2`,
		userID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get key pair: %w", err)
	}
	return k, nil
}

// listKeyPairs pages a user's key pairs by name; marker is the name of
// the last one seen.
func listKeyPairs(ctx context.Context, q querier, userID string, limit int, marker string) ([]*KeyPair, error) {
	var a args
	where := "user_id = " + a.add(userID)
	if marker != "" {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_pairs WHERE user_id = $1 AND name = $2`, userID, marker).Scan(&n); err != nil {
			return nil, fmt.Errorf("find marker key pair: %w", err)
		}
		if n == 0 {
			return nil, errMarkerNotFound
		}
		where += " AND name > " + a.add(marker)
	}
	query := `SELECT ` + keyPairColumns + ` FROM key_pairs WHERE ` + where + ` ORDER BY name, id`
	if limit > 0 {
		query += ` LIMIT ` + a.add(limit)
	}
	rows, err := q.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("list key pairs: %w", err)
	}
	defer rows.Close()
	out := []*KeyPair{}
	for rows.Next() {
		k, err := scanKeyPair(rows)
		if err != nil {
			return nil, fmt.Errorf("list key pairs: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func insertKeyPair(ctx context.Context, q querier, k *KeyPair) error {
	err := q.QueryRowContext(ctx, `INSERT INTO key_pairs (user_id, name, type, fingerprint, public_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		k.UserID, k.Name, k.Type, k.Fingerprint, k.PublicKey, micros(k.CreatedAt)).Scan(&k.ID)
	if err != nil {
		return fmt.Errorf("insert key pair: %w", err)
	}
	return nil
}

func deleteKeyPair(ctx context.Context, q querier, userID, name string) (bool, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM key_pairs WHERE user_id = $1 AND name = $2`, userID, name)
	if err != nil {
		return false, fmt.Errorf("delete key pair: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func countKeyPairs(ctx context.Context, q querier, userID string) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_pairs WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count key pairs: %w", err)
	}
	return n, nil
}

// ---- quotas

// limitRows reads resource -> hard_limit rows of a query.
func limitRows(ctx context.Context, q querier, query string, params ...any) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, query, params...)
	if err != nil {
		return nil, fmt.Errorf("read quotas: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var r string
		var n int64
		if err := rows.Scan(&r, &n); err != nil {
			return nil, fmt.Errorf("read quotas: %w", err)
		}
		out[r] = n
	}
	return out, rows.Err()
}

func classQuotas(ctx context.Context, q querier, class string) (map[string]int64, error) {
	return limitRows(ctx, q, `SELECT resource, hard_limit FROM quota_classes WHERE class_name = $1`, class)
}

func projectQuotas(ctx context.Context, q querier, projectID string) (map[string]int64, error) {
	return limitRows(ctx, q, `SELECT resource, hard_limit FROM quotas WHERE project_id = $1`, projectID)
}

func userQuotas(ctx context.Context, q querier, projectID, userID string) (map[string]int64, error) {
	return limitRows(ctx, q, `SELECT resource, hard_limit FROM project_user_quotas WHERE project_id = $1 AND user_id = $2`,
		projectID, userID)
}

// userQuotaSums adds up the user limits set in a project, per resource.
func userQuotaSums(ctx context.Context, q querier, projectID string) (map[string]int64, error) {
	return limitRows(ctx, q, `SELECT resource, CAST(SUM(hard_limit) AS BIGINT) FROM project_user_quotas WHERE project_id = $1 GROUP BY resource`,
		projectID)
}

func setClassQuota(ctx context.Context, q querier, class, resource string, limit int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO quota_classes (class_name, resource, hard_limit) VALUES ($1, $2, $3)
		ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit`, class, resource, limit)
	if err != nil {
		return fmt.Errorf("set class quota %s: %w", resource, err)
	}
	return nil
}

func setProjectQuota(ctx context.Context, q querier, projectID, resource string, limit int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)
		ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit`, projectID, resource, limit)
	if err != nil {
		return fmt.Errorf("set quota %s: %w", resource, err)
	}
	return nil
}

func setUserQuota(ctx context.Context, q querier, projectID, userID, resource string, limit int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO project_user_quotas (project_id, user_id, resource, hard_limit) VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, user_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit`,
		projectID, userID, resource, limit)
	if err != nil {
		return fmt.Errorf("set user quota %s: %w", resource, err)
	}
	return nil
}

func deleteProjectQuotas(ctx context.Context, q querier, projectID string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM quotas WHERE project_id = $1`, projectID); err != nil {
		return fmt.Errorf("delete quotas: %w", err)
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM project_user_quotas WHERE project_id = $1`, projectID); err != nil {
		return fmt.Errorf("delete user quotas: %w", err)
	}
	return nil
}

func deleteUserQuotas(ctx context.Context, q querier, projectID, userID string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM project_user_quotas WHERE project_id = $1 AND user_id = $2`,
		projectID, userID); err != nil {
		return fmt.Errorf("delete user quotas: %w", err)
	}
	return nil
}
