package placement

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const (
	maxInt   = 2147483647 // placement's db_const.MAX_INT
	maxFloat = 3.40282e+38
)

func inventoriesOf(ctx context.Context, q querier, provider string) ([]Inventory, error) {
	rows, err := q.QueryContext(ctx, `SELECT resource_class, total, reserved, min_unit, max_unit, step_size,
		allocation_ratio, created_at, updated_at FROM inventories WHERE provider_uuid = $1 ORDER BY resource_class`, provider)
	if err != nil {
		return nil, fmt.Errorf("inventories of %s: %w", provider, err)
	}
	defer rows.Close()
	var out []Inventory
	for rows.Next() {
		var i Inventory
		var c, u int64
		if err := rows.Scan(&i.ResourceClass, &i.Total, &i.Reserved, &i.MinUnit, &i.MaxUnit, &i.Step,
			&i.AllocationRatio, &c, &u); err != nil {
			return nil, err
		}
		i.CreatedAt, i.UpdatedAt = micros(c), micros(u)
		out = append(out, i)
	}
	return out, rows.Err()
}

// usageOf sums a provider's allocations by class.
func usageOf(ctx context.Context, q querier, provider string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT resource_class, SUM(used) FROM allocations WHERE provider_uuid = $1
		GROUP BY resource_class`, provider)
	if err != nil {
		return nil, fmt.Errorf("usage of %s: %w", provider, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var rc string
		var n int64
		if err := rows.Scan(&rc, &n); err != nil {
			return nil, err
		}
		out[rc] = n
	}
	return out, rows.Err()
}

// GetInventories returns a provider and its inventories.
func (s *Service) GetInventories(ctx context.Context, pr *authn.Principal, id string, rule string) (*Provider, []Inventory, error) {
	if err := s.authorize(pr, rule, nil); err != nil {
		return nil, nil, err
	}
	var p *Provider
	var invs []Inventory
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = getProvider(ctx, tx, id); err != nil {
			return err
		}
		if p == nil {
			return fault.NotFoundf("No resource provider with uuid %s found : No resource provider with uuid %s found", id, id)
		}
		invs, err = inventoriesOf(ctx, tx, id)
		return err
	})
	return p, invs, err
}

// checkCapacity is placement's reserved-against-total rule: before 1.26
// reserved must be below total, from 1.26 it may equal it.
func checkCapacity(invs []Inventory, provider string, v version) error {
	for _, i := range invs {
		c := i.Capacity()
		if !v.atLeast(26) && c <= 0 {
			return fmt.Errorf("Invalid inventory for '%s' on resource provider '%s'. The reserved value is greater than or equal to total.", i.ResourceClass, provider)
		}
		if v.atLeast(26) && c < 0 {
			return fmt.Errorf("Invalid inventory for '%s' on resource provider '%s'. The reserved value is greater than total.", i.ResourceClass, provider)
		}
	}
	return nil
}

// inUse fails when any of classes has allocations on the provider.
func inUse(ctx context.Context, q querier, provider string, classes []string) error {
	if len(classes) == 0 {
		return nil
	}
	used, err := usageOf(ctx, q, provider)
	if err != nil {
		return err
	}
	var busy []string
	for _, rc := range classes {
		if used[rc] > 0 {
			busy = append(busy, rc)
		}
	}
	if len(busy) > 0 {
		sort.Strings(busy)
		return fmt.Errorf("Inventory for '%s' on resource provider '%s' in use.", strings.Join(busy, ", "), provider)
	}
	return nil
}

func (s *Service) insertInventory(ctx context.Context, tx querier, provider string, i Inventory) error {
	now := s.now().UnixMicro()
	_, err := tx.ExecContext(ctx, `INSERT INTO inventories (provider_uuid, resource_class, total, reserved, min_unit,
		max_unit, step_size, allocation_ratio, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
		provider, i.ResourceClass, i.Total, i.Reserved, i.MinUnit, i.MaxUnit, i.Step, i.AllocationRatio, now)
	if err != nil {
		return fmt.Errorf("add inventory %s to %s: %w", i.ResourceClass, provider, err)
	}
	return nil
}

func (s *Service) updateInventoryRow(ctx context.Context, tx querier, provider string, i Inventory) error {
	_, err := tx.ExecContext(ctx, `UPDATE inventories SET total = $3, reserved = $4, min_unit = $5, max_unit = $6,
		step_size = $7, allocation_ratio = $8, updated_at = $9 WHERE provider_uuid = $1 AND resource_class = $2`,
		provider, i.ResourceClass, i.Total, i.Reserved, i.MinUnit, i.MaxUnit, i.Step, i.AllocationRatio, s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("update inventory %s of %s: %w", i.ResourceClass, provider, err)
	}
	return nil
}

// SetInventories replaces all of a provider's inventories, when gen is
// still its generation.
func (s *Service) SetInventories(ctx context.Context, pr *authn.Principal, id string, gen int64, invs []Inventory, v version) (*Provider, []Inventory, error) {
	if err := s.authorize(pr, invUpdate, nil); err != nil {
		return nil, nil, err
	}
	var p *Provider
	var out []Inventory
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = mustProvider(ctx, tx, id); err != nil {
			return err
		}
		if p.Generation != gen {
			return errConflict("resource provider generation conflict")
		}
		var names []string
		for _, i := range invs {
			names = append(names, i.ResourceClass)
		}
		if err := checkNames(ctx, tx, "resource_classes", "No such resource class %s.", names); err != nil {
			return fault.BadRequestf("Unknown resource class in inventory for resource provider %s: %s", id, err.(*fault.Error).Msg)
		}
		if err := checkCapacity(invs, id, v); err != nil {
			return fault.BadRequestf("Unable to update inventory for resource provider %s: %s", id, err)
		}
		if err := s.replaceInventories(ctx, tx, p, invs); err != nil {
			return err
		}
		out, err = inventoriesOf(ctx, tx, id)
		return err
	})
	return p, out, err
}

// replaceInventories makes invs the provider's inventories, refusing to
// drop a class in use, and bumps its generation.
func (s *Service) replaceInventories(ctx context.Context, tx querier, p *Provider, invs []Inventory) error {
	id := p.UUID
	cur, err := inventoriesOf(ctx, tx, id)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, c := range cur {
		have[c.ResourceClass] = true
	}
	want := map[string]bool{}
	for _, i := range invs {
		want[i.ResourceClass] = true
	}
	var gone []string
	for _, c := range cur {
		if !want[c.ResourceClass] {
			gone = append(gone, c.ResourceClass)
		}
	}
	if err := inUse(ctx, tx, id, gone); err != nil {
		return coded(fault.Conflict, codeInventoryInUse, "update conflict: %s", err)
	}
	for _, rc := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM inventories WHERE provider_uuid = $1 AND resource_class = $2`, id, rc); err != nil {
			return fmt.Errorf("delete inventory %s of %s: %w", rc, id, err)
		}
	}
	for _, i := range invs {
		if have[i.ResourceClass] {
			err = s.updateInventoryRow(ctx, tx, id, i)
		} else {
			err = s.insertInventory(ctx, tx, id, i)
		}
		if err != nil {
			return err
		}
	}
	if err := s.bumpGeneration(ctx, tx, p); err != nil {
		return errConflict("update conflict: Another thread concurrently updated the data. Please retry your update")
	}
	return nil
}

// CreateInventory adds one inventory of a class the provider lacks.
func (s *Service) CreateInventory(ctx context.Context, pr *authn.Principal, id string, i Inventory, v version) (*Provider, *Inventory, error) {
	if err := s.authorize(pr, invCreate, nil); err != nil {
		return nil, nil, err
	}
	var p *Provider
	var out *Inventory
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = mustProvider(ctx, tx, id); err != nil {
			return err
		}
		if err := checkCapacity([]Inventory{i}, id, v); err != nil {
			return fault.BadRequestf("Unable to create inventory for resource provider %s: %s", id, err)
		}
		if err := checkNames(ctx, tx, "resource_classes", "No such resource class %s.", []string{i.ResourceClass}); err != nil {
			return fault.BadRequestf("Unable to create inventory for resource provider %s: %s", id, err.(*fault.Error).Msg)
		}
		cur, err := inventoriesOf(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, c := range cur {
			if c.ResourceClass == i.ResourceClass {
				return errConflict("Update conflict: Inventory for '%s' on resource provider '%s' already exists.", i.ResourceClass, id)
			}
		}
		if err := s.insertInventory(ctx, tx, id, i); err != nil {
			return err
		}
		if err := s.bumpGeneration(ctx, tx, p); err != nil {
			return errConflict("Update conflict: Another thread concurrently updated the data. Please retry your update")
		}
		out, err = oneInventory(ctx, tx, id, i.ResourceClass)
		return err
	})
	return p, out, err
}

func oneInventory(ctx context.Context, q querier, provider, rc string) (*Inventory, error) {
	invs, err := inventoriesOf(ctx, q, provider)
	if err != nil {
		return nil, err
	}
	for i := range invs {
		if invs[i].ResourceClass == rc {
			return &invs[i], nil
		}
	}
	return nil, nil
}

// UpdateInventory changes one existing inventory, when gen is still the
// provider's generation.
func (s *Service) UpdateInventory(ctx context.Context, pr *authn.Principal, id string, gen int64, i Inventory, v version) (*Provider, *Inventory, error) {
	if err := s.authorize(pr, invUpdate, nil); err != nil {
		return nil, nil, err
	}
	var p *Provider
	var out *Inventory
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = mustProvider(ctx, tx, id); err != nil {
			return err
		}
		if p.Generation != gen {
			return errConflict("resource provider generation conflict")
		}
		if err := checkNames(ctx, tx, "resource_classes", "No such resource class %s.", []string{i.ResourceClass}); err != nil {
			return fault.NotFoundf("%s", err.(*fault.Error).Msg)
		}
		if err := checkCapacity([]Inventory{i}, id, v); err != nil {
			return fault.BadRequestf("Unable to update inventory for resource provider %s: %s", id, err)
		}
		cur, err := oneInventory(ctx, tx, id, i.ResourceClass)
		if err != nil {
			return err
		}
		if cur == nil {
			return fault.BadRequestf("No inventory record with resource class for resource provider %s: No inventory of class %s found.", id, i.ResourceClass)
		}
		if err := s.updateInventoryRow(ctx, tx, id, i); err != nil {
			return err
		}
		if err := s.bumpGeneration(ctx, tx, p); err != nil {
			return errConflict("update conflict: Another thread concurrently updated the data. Please retry your update")
		}
		out, err = oneInventory(ctx, tx, id, i.ResourceClass)
		return err
	})
	return p, out, err
}

// DeleteInventory removes one unused inventory.
func (s *Service) DeleteInventory(ctx context.Context, pr *authn.Principal, id, rc string) error {
	if err := s.authorize(pr, invDelete, nil); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		p, err := mustProvider(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := checkNames(ctx, tx, "resource_classes", "No such resource class %s.", []string{rc}); err != nil {
			return fault.NotFoundf("%s", err.(*fault.Error).Msg)
		}
		if err := inUse(ctx, tx, id, []string{rc}); err != nil {
			return errConflict("Unable to delete inventory of class %s: %s", rc, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM inventories WHERE provider_uuid = $1 AND resource_class = $2`, id, rc)
		if err != nil {
			return fmt.Errorf("delete inventory %s of %s: %w", rc, id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.NotFoundf("No inventory of class %s found for delete: No inventory of class %s found for delete", rc, rc)
		}
		if err := s.bumpGeneration(ctx, tx, p); err != nil {
			return errConflict("Unable to delete inventory of class %s: Another thread concurrently updated the data. Please retry your update", rc)
		}
		return nil
	})
}

// DeleteInventories removes all of a provider's inventories (1.5).
func (s *Service) DeleteInventories(ctx context.Context, pr *authn.Principal, id string) error {
	if err := s.authorize(pr, invDelete, nil); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		p, err := mustProvider(ctx, tx, id)
		if err != nil {
			return err
		}
		cur, err := inventoriesOf(ctx, tx, id)
		if err != nil {
			return err
		}
		var all []string
		for _, c := range cur {
			all = append(all, c.ResourceClass)
		}
		if err := inUse(ctx, tx, id, all); err != nil {
			return coded(fault.Conflict, codeInventoryInUse, "%s", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM inventories WHERE provider_uuid = $1`, id); err != nil {
			return fmt.Errorf("delete inventories of %s: %w", id, err)
		}
		if err := s.bumpGeneration(ctx, tx, p); err != nil {
			return errConflict("Unable to delete inventory for resource provider %s because the inventory was updated by another process. Please retry your request.", id)
		}
		return nil
	})
}

// parseInventory reads one inventory record of a request body, with
// placement's defaults; where names the schema path for messages.
func parseInventory(o object, rc string, where string) (Inventory, error) {
	i := Inventory{ResourceClass: rc, MinUnit: 1, MaxUnit: maxInt, Step: 1, AllocationRatio: 1}
	fields := []struct {
		name string
		dst  *int64
		min  int64
	}{{"total", &i.Total, 1}, {"reserved", &i.Reserved, 0}, {"min_unit", &i.MinUnit, 1},
		{"max_unit", &i.MaxUnit, 1}, {"step_size", &i.Step, 1}}
	for _, f := range fields {
		raw, ok := o[f.name]
		if !ok {
			continue
		}
		n, err := integer(raw)
		if err != nil {
			return i, err
		}
		if n < f.min {
			return i, invalid("%d is less than the minimum of %d\n\nFailed validating 'minimum' in %s['%s']", n, f.min, where, f.name)
		}
		if n > maxInt {
			return i, invalid("%d is greater than the maximum of %d\n\nFailed validating 'maximum' in %s['%s']", n, maxInt, where, f.name)
		}
		*f.dst = n
	}
	if raw, ok := o["allocation_ratio"]; ok {
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil || raw[0] == '"' {
			return i, invalid("%s is not of type 'number'", pyRepr(raw))
		}
		if f > maxFloat {
			return i, invalid("%s is greater than the maximum of %s\n\nFailed validating 'maximum' in %s['allocation_ratio']",
				string(raw), strconv.FormatFloat(maxFloat, 'g', -1, 64), where)
		}
		i.AllocationRatio = f
	}
	return i, nil
}

var inventoryFields = []string{"resource_provider_generation", "total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio"}
