package identity

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const regionColumns = `id, description, COALESCE(parent_region_id, ''), extra`

func scanRegion(row interface{ Scan(...any) error }) (*Region, error) {
	var rg Region
	var extra string
	if err := row.Scan(&rg.ID, &rg.Description, &rg.ParentRegionID, &extra); err != nil {
		return nil, err
	}
	rg.Extra = decodeExtra(extra)
	return &rg, nil
}

func getRegion(ctx context.Context, q queryer, id string) (*Region, error) {
	rg, err := scanRegion(q.QueryRowContext(ctx, `SELECT `+regionColumns+` FROM regions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find region: %s.", id)
	}
	return rg, err
}

func regionTarget(rg *Region) map[string]any {
	return map[string]any{"region": map[string]any{"id": rg.ID, "parent_region_id": rg.ParentRegionID}}
}

// ListRegions lists regions, optionally only the children of one.
func (s *Service) ListRegions(ctx context.Context, p *authn.Principal, parentID string) ([]Region, error) {
	if err := s.authorize(p, "identity:list_regions", nil); err != nil {
		return nil, err
	}
	q := newWhere()
	q.eq("parent_region_id", parentID)
	rows, err := s.db.QueryContext(ctx, `SELECT `+regionColumns+` FROM regions`+q.sql()+` ORDER BY id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Region
	for rows.Next() {
		rg, err := scanRegion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *rg)
	}
	return out, rows.Err()
}

// GetRegion returns one region.
func (s *Service) GetRegion(ctx context.Context, p *authn.Principal, id string) (*Region, error) {
	if err := s.authorize(p, "identity:get_region", map[string]any{"region": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	return getRegion(ctx, s.db, id)
}

// CreateRegion makes a region; an empty ID gets a generated one.
func (s *Service) CreateRegion(ctx context.Context, p *authn.Principal, rg Region) (*Region, error) {
	if err := s.authorize(p, "identity:create_region", regionTarget(&rg)); err != nil {
		return nil, err
	}
	if rg.ID == "" {
		rg.ID = newID()
	}
	if len(rg.ID) > 255 {
		return nil, fault.BadRequestf("Invalid input for field 'id': region id is longer than 255 characters.")
	}
	err := s.tx(ctx, func(tx *sql.Tx) error { return insertRegion(ctx, tx, &rg) })
	if err != nil {
		return nil, err
	}
	return &rg, nil
}

func insertRegion(ctx context.Context, tx *sql.Tx, rg *Region) error {
	if rg.ParentRegionID != "" {
		if _, err := getRegion(ctx, tx, rg.ParentRegionID); err != nil {
			return err // Keystone answers 404 for a missing parent
		}
		if rg.ParentRegionID == rg.ID {
			return circularRegion(rg.ParentRegionID)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO regions (id, description, parent_region_id, extra) VALUES ($1, $2, $3, $4)`,
		rg.ID, rg.Description, nullString(rg.ParentRegionID), encodeExtra(rg.Extra))
	if db.IsUniqueViolation(err) {
		return fault.Conflictf("Conflict occurred attempting to store region - Duplicate ID, %s.", rg.ID)
	}
	return err
}

func circularRegion(parent string) error {
	return fault.BadRequestf("The specified parent region %s would create a circular region hierarchy.", parent)
}

// RegionPatch holds the fields an update changes; nil leaves a field alone.
type RegionPatch struct {
	Description, ParentRegionID *string
	Extra                       map[string]any
}

// UpdateRegion changes a region, refusing a parent that makes a cycle.
func (s *Service) UpdateRegion(ctx context.Context, p *authn.Principal, id string, patch RegionPatch) (*Region, error) {
	if err := s.authorize(p, "identity:update_region", map[string]any{"region": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	var out *Region
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rg, err := getRegion(ctx, tx, id)
		if err != nil {
			return err
		}
		if patch.Description != nil {
			rg.Description = *patch.Description
		}
		if patch.ParentRegionID != nil && *patch.ParentRegionID != rg.ParentRegionID {
			parent := *patch.ParentRegionID
			// Walk up from the new parent: meeting id means a cycle.
			for cur, depth := parent, 0; cur != ""; depth++ {
				if cur == id || depth > 1000 {
					return circularRegion(parent)
				}
				up, err := getRegion(ctx, tx, cur)
				if err != nil {
					return err
				}
				cur = up.ParentRegionID
			}
			rg.ParentRegionID = parent
		}
		mergeExtra(&rg.Extra, patch.Extra)
		if _, err := tx.ExecContext(ctx, `UPDATE regions SET description = $2, parent_region_id = $3, extra = $4 WHERE id = $1`,
			rg.ID, rg.Description, nullString(rg.ParentRegionID), encodeExtra(rg.Extra)); err != nil {
			return err
		}
		out = rg
		return nil
	})
	return out, err
}

// DeleteRegion removes a region and its child regions, unless any of them
// has endpoints.
func (s *Service) DeleteRegion(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, "identity:delete_region", map[string]any{"region": map[string]any{"id": id}}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getRegion(ctx, tx, id); err != nil {
			return err
		}
		// Collect the subtree, parents before children.
		tree := []string{id}
		for i := 0; i < len(tree); i++ {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM regions WHERE parent_region_id = $1`, tree[i])
			if err != nil {
				return err
			}
			kids, err := collectStrings(rows)
			if err != nil {
				return err
			}
			tree = append(tree, kids...)
		}
		args := make([]any, len(tree))
		marks := make([]string, len(tree))
		for i, r := range tree {
			args[i] = r
			marks[i] = "$" + strconv.Itoa(i+1)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM endpoints WHERE region_id IN (`+strings.Join(marks, ", ")+`)`, args...).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fault.Forbiddenf("Unable to delete region %s because it or its child regions have associated endpoints.", id)
		}
		for i := len(tree) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, `DELETE FROM regions WHERE id = $1`, tree[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// regionExists is used by endpoints, which name a region by id.
func regionExists(ctx context.Context, q queryer, id string) (bool, error) {
	_, err := getRegion(ctx, q, id)
	if fault.Is(err, fault.NotFound) {
		return false, nil
	}
	return err == nil, err
}
