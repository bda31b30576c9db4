package placement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// querier is a transaction or the database itself.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const providerCols = `uuid, name, generation, COALESCE(parent_uuid, ''), root_uuid, created_at, updated_at`

func scanProvider(sc interface{ Scan(...any) error }) (*Provider, error) {
	var p Provider
	var c, u int64
	if err := sc.Scan(&p.UUID, &p.Name, &p.Generation, &p.ParentUUID, &p.RootUUID, &c, &u); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = micros(c), micros(u)
	return &p, nil
}

// getProvider returns the provider or nil.
func getProvider(ctx context.Context, q querier, id string) (*Provider, error) {
	p, err := scanProvider(q.QueryRowContext(ctx, `SELECT `+providerCols+` FROM resource_providers WHERE uuid = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get provider %s: %w", id, err)
	}
	return p, nil
}

func errNoProvider(id string) error {
	return fault.NotFoundf("No resource provider with uuid %s found", id)
}

// mustProvider is getProvider with placement's 404.
func mustProvider(ctx context.Context, q querier, id string) (*Provider, error) {
	p, err := getProvider(ctx, q, id)
	if err == nil && p == nil {
		err = errNoProvider(id)
	}
	return p, err
}

func listProviders(ctx context.Context, q querier, where string, args ...any) ([]*Provider, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+providerCols+` FROM resource_providers `+where+` ORDER BY created_at, uuid`, args...)
	if err != nil {
		return nil, fmt.Errorf("list providers: %w", err)
	}
	defer rows.Close()
	var out []*Provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// errConflict is placement's 409 for a generation that moved.
func errConflict(format string, args ...any) error {
	return coded(fault.Conflict, codeConcurrentUpdate, format, args...)
}

var errGenerationMoved = errors.New("resource provider generation moved")

// bumpGeneration is the compare-and-swap every change to a provider's
// inventory, allocations, traits or aggregates ends with: it fails when
// another writer got there first.
func (s *Service) bumpGeneration(ctx context.Context, tx querier, p *Provider) error {
	res, err := tx.ExecContext(ctx, `UPDATE resource_providers SET generation = generation + 1, updated_at = $3
		WHERE uuid = $1 AND generation = $2`, p.UUID, p.Generation, s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("bump generation of %s: %w", p.UUID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errGenerationMoved
	}
	p.Generation++
	return nil
}

// CreateProvider makes a provider; id "" picks a new UUID.
func (s *Service) CreateProvider(ctx context.Context, pr *authn.Principal, name, id, parent string) (*Provider, error) {
	if err := s.authorize(pr, rpCreate, nil); err != nil {
		return nil, err
	}
	if id == "" {
		id = uuid.NewString()
	}
	var out *Provider
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var dups []string
		if p, err := getProvider(ctx, tx, id); err != nil {
			return err
		} else if p != nil {
			dups = append(dups, "uuid: "+id)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM resource_providers WHERE name = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			dups = append(dups, "name: "+name)
		}
		if len(dups) > 0 {
			return coded(fault.Conflict, codeDuplicateName, "Conflicting resource provider %s already exists.", strings.Join(dups, ", "))
		}
		root := id
		var parentArg any
		if parent != "" {
			if parent == id {
				return fault.BadRequestf("Unable to create resource provider \"%s\", %s: Object action create failed because: parent provider UUID cannot be same as UUID. Please set parent provider UUID to None if there is no parent.", name, id)
			}
			pp, err := getProvider(ctx, tx, parent)
			if err != nil {
				return err
			}
			if pp == nil {
				return fault.BadRequestf("Unable to create resource provider \"%s\", %s: Object action create failed because: parent provider UUID does not exist.", name, id)
			}
			root, parentArg = pp.RootUUID, parent
		}
		now := s.now().UnixMicro()
		_, err := tx.ExecContext(ctx, `INSERT INTO resource_providers (uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at)
			VALUES ($1, $2, 0, $3, $4, $5, $5)`, id, name, parentArg, root, now)
		if db.IsUniqueViolation(err) {
			return coded(fault.Conflict, codeDuplicateName, "Conflicting resource provider name: %s already exists.", name)
		}
		if err != nil {
			return fmt.Errorf("insert provider: %w", err)
		}
		out = &Provider{UUID: id, Name: name, ParentUUID: parent, RootUUID: root, CreatedAt: micros(now), UpdatedAt: micros(now)}
		return nil
	})
	return out, err
}

// GetProvider returns one provider.
func (s *Service) GetProvider(ctx context.Context, pr *authn.Principal, id string) (*Provider, error) {
	if err := s.authorize(pr, rpShow, nil); err != nil {
		return nil, err
	}
	return mustProvider(ctx, s.db, id)
}

// ProviderUpdate is what PUT /resource_providers/{uuid} may change.
type ProviderUpdate struct {
	Name          string
	SetParent     bool   // the body named parent_provider_uuid
	Parent        string // "" = null
	AllowReparent bool   // 1.37: move to another parent or make a root
}

// UpdateProvider renames a provider and sets, changes or clears its parent.
func (s *Service) UpdateProvider(ctx context.Context, pr *authn.Principal, id string, u ProviderUpdate) (*Provider, error) {
	if err := s.authorize(pr, rpUpdate, nil); err != nil {
		return nil, err
	}
	var out *Provider
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		p, err := mustProvider(ctx, tx, id)
		if err != nil {
			return err
		}
		bad := func(action, reason string) error {
			return fault.BadRequestf("Unable to save resource provider %s: Object action %s failed because: %s", id, action, reason)
		}
		newRoot, newParent := p.RootUUID, p.ParentUUID
		if u.SetParent && u.Parent != p.ParentUUID {
			if u.Parent != "" {
				pp, err := getProvider(ctx, tx, u.Parent)
				if err != nil {
					return err
				}
				if pp == nil {
					return bad("create", "parent provider UUID does not exist.")
				}
				if p.ParentUUID != "" && !u.AllowReparent {
					return bad("update", "re-parenting a provider is not currently allowed.")
				}
				sub, err := subtree(ctx, tx, p)
				if err != nil {
					return err
				}
				if sub[u.Parent] {
					return bad("update", "creating loop in the provider tree is not allowed.")
				}
				newRoot, newParent = pp.RootUUID, u.Parent
			} else {
				if !u.AllowReparent {
					return bad("update", "un-parenting a provider is not currently allowed.")
				}
				newRoot, newParent = p.UUID, ""
			}
			if newRoot != p.RootUUID {
				sub, err := subtree(ctx, tx, p)
				if err != nil {
					return err
				}
				for rp := range sub {
					if _, err := tx.ExecContext(ctx, `UPDATE resource_providers SET root_uuid = $2 WHERE uuid = $1`, rp, newRoot); err != nil {
						return fmt.Errorf("move %s to tree %s: %w", rp, newRoot, err)
					}
				}
			}
		}
		if u.Name != p.Name {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM resource_providers WHERE name = $1 AND uuid <> $2`, u.Name, id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return coded(fault.Conflict, codeDuplicateName, "Conflicting resource provider %s already exists.", u.Name)
			}
		}
		var parentArg any
		if newParent != "" {
			parentArg = newParent
		}
		now := s.now().UnixMicro()
		_, err = tx.ExecContext(ctx, `UPDATE resource_providers SET name = $2, parent_uuid = $3, root_uuid = $4, updated_at = $5
			WHERE uuid = $1`, id, u.Name, parentArg, newRoot, now)
		if db.IsUniqueViolation(err) {
			return coded(fault.Conflict, codeDuplicateName, "Conflicting resource provider %s already exists.", u.Name)
		}
		if err != nil {
			return fmt.Errorf("update provider %s: %w", id, err)
		}
		p.Name, p.ParentUUID, p.RootUUID, p.UpdatedAt = u.Name, newParent, newRoot, micros(now)
		out = p
		return nil
	})
	return out, err
}

// subtree is the set of p and its descendants.
func subtree(ctx context.Context, q querier, p *Provider) (map[string]bool, error) {
	tree, err := listProviders(ctx, q, `WHERE root_uuid = $1`, p.RootUUID)
	if err != nil {
		return nil, err
	}
	children := map[string][]string{}
	for _, t := range tree {
		if t.ParentUUID != "" {
			children[t.ParentUUID] = append(children[t.ParentUUID], t.UUID)
		}
	}
	out := map[string]bool{}
	var walk func(string)
	walk = func(id string) {
		out[id] = true
		for _, c := range children[id] {
			walk(c)
		}
	}
	walk(p.UUID)
	return out, nil
}

// DeleteProvider removes a provider with no allocations and no children.
func (s *Service) DeleteProvider(ctx context.Context, pr *authn.Principal, id string) error {
	if err := s.authorize(pr, rpDelete, nil); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		p, err := getProvider(ctx, tx, id)
		if err != nil {
			return err
		}
		if p == nil {
			return fault.NotFoundf("No resource provider with uuid %s found for delete", id)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM resource_providers WHERE parent_uuid = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return coded(fault.Conflict, codeCannotDeleteParent, "Unable to delete parent resource provider %s: It has child resource providers.", id)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM allocations WHERE provider_uuid = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return coded(fault.Conflict, codeProviderInUse, "Unable to delete resource provider %s: Resource provider has allocations.", id)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM resource_providers WHERE uuid = $1`, id)
		if db.IsForeignKeyViolation(err) {
			return coded(fault.Conflict, codeCannotDeleteParent, "Unable to delete parent resource provider %s: It has child resource providers.", id)
		}
		return err
	})
}

// ProviderFilter narrows GET /resource_providers.
type ProviderFilter struct {
	Name, UUID, InTree string
	MemberOf           [][]string // AND of ORs
	ForbiddenAggs      []string
	Required           [][]string // traits, AND of ORs
	Forbidden          []string
	Resources          map[string]int64
}

// ListProviders returns the providers that pass every filter.
func (s *Service) ListProviders(ctx context.Context, pr *authn.Principal, f ProviderFilter) ([]*Provider, error) {
	if err := s.authorize(pr, rpList, nil); err != nil {
		return nil, err
	}
	var out []*Provider
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var conds []string
		var args []any
		arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
		if f.Name != "" {
			conds = append(conds, "name = "+arg(f.Name))
		}
		if f.UUID != "" {
			conds = append(conds, "uuid = "+arg(f.UUID))
		}
		if f.InTree != "" {
			t, err := getProvider(ctx, tx, f.InTree)
			if err != nil {
				return err
			}
			if t == nil {
				return nil
			}
			conds = append(conds, "root_uuid = "+arg(t.RootUUID))
		}
		if err := checkNames(ctx, tx, "traits", "No such trait(s): %s.", flatten(f.Required, f.Forbidden)); err != nil {
			return fault.BadRequestf("Invalid trait(s) in \"required\" parameter: %s", err.(*fault.Error).Msg)
		}
		for _, any := range f.Required {
			conds = append(conds, "uuid IN (SELECT provider_uuid FROM provider_traits WHERE trait IN ("+inList(arg, any)+"))")
		}
		if len(f.Forbidden) > 0 {
			conds = append(conds, "uuid NOT IN (SELECT provider_uuid FROM provider_traits WHERE trait IN ("+inList(arg, f.Forbidden)+"))")
		}
		for _, any := range f.MemberOf {
			conds = append(conds, "uuid IN (SELECT provider_uuid FROM provider_aggregates WHERE aggregate_uuid IN ("+inList(arg, any)+"))")
		}
		if len(f.ForbiddenAggs) > 0 {
			conds = append(conds, "uuid NOT IN (SELECT provider_uuid FROM provider_aggregates WHERE aggregate_uuid IN ("+inList(arg, f.ForbiddenAggs)+"))")
		}
		rcs := make([]string, 0, len(f.Resources))
		for rc := range f.Resources {
			rcs = append(rcs, rc)
		}
		sort.Strings(rcs)
		if err := checkNames(ctx, tx, "resource_classes", "No such resource class %s.", rcs); err != nil {
			return fault.BadRequestf("Invalid resource class in resources parameter: %s", err.(*fault.Error).Msg)
		}
		where := ""
		if len(conds) > 0 {
			where = "WHERE " + strings.Join(conds, " AND ")
		}
		ps, err := listProviders(ctx, tx, where, args...)
		if err != nil {
			return err
		}
		if len(rcs) > 0 {
			room, err := providersWithRoom(ctx, tx, f.Resources)
			if err != nil {
				return err
			}
			kept := ps[:0]
			for _, p := range ps {
				if room[p.UUID] {
					kept = append(kept, p)
				}
			}
			ps = kept
		}
		out = ps
		return nil
	})
	return out, err
}

// providersWithRoom is the set of providers that can each serve every
// requested amount.
func providersWithRoom(ctx context.Context, q querier, want map[string]int64) (map[string]bool, error) {
	var out map[string]bool
	for rc, amount := range want {
		invs, err := inventoriesOfClass(ctx, q, rc)
		if err != nil {
			return nil, err
		}
		got := map[string]bool{}
		for _, iu := range invs {
			if iu.inv.fits(iu.used, amount) && (out == nil || out[iu.provider]) {
				got[iu.provider] = true
			}
		}
		out = got
	}
	return out, nil
}

type invUse struct {
	provider string
	inv      Inventory
	used     int64
}

func inventoriesOfClass(ctx context.Context, q querier, rc string) ([]invUse, error) {
	rows, err := q.QueryContext(ctx, `SELECT i.provider_uuid, i.total, i.reserved, i.min_unit, i.max_unit, i.step_size,
		i.allocation_ratio, COALESCE((SELECT SUM(a.used) FROM allocations a
			WHERE a.provider_uuid = i.provider_uuid AND a.resource_class = i.resource_class), 0)
		FROM inventories i WHERE i.resource_class = $1`, rc)
	if err != nil {
		return nil, fmt.Errorf("inventories of %s: %w", rc, err)
	}
	defer rows.Close()
	var out []invUse
	for rows.Next() {
		var iu invUse
		iu.inv.ResourceClass = rc
		if err := rows.Scan(&iu.provider, &iu.inv.Total, &iu.inv.Reserved, &iu.inv.MinUnit, &iu.inv.MaxUnit,
			&iu.inv.Step, &iu.inv.AllocationRatio, &iu.used); err != nil {
			return nil, err
		}
		out = append(out, iu)
	}
	return out, rows.Err()
}

func inList(arg func(any) string, vals []string) string {
	ps := make([]string, len(vals))
	for i, v := range vals {
		ps[i] = arg(v)
	}
	return strings.Join(ps, ", ")
}

func flatten(groups [][]string, more ...[]string) []string {
	var out []string
	for _, g := range append(groups, more...) {
		out = append(out, g...)
	}
	return out
}

// checkNames fails with msg (one %s: the missing names) unless every
// name is in table (traits or resource_classes).
func checkNames(ctx context.Context, q querier, table, msg string, names []string) error {
	var missing []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		var c int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE name = $1`, n).Scan(&c); err != nil {
			return fmt.Errorf("look up %s: %w", n, err)
		}
		if c == 0 {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fault.BadRequestf(msg, strings.Join(missing, ", "))
	}
	return nil
}

// readTx runs fn in a transaction meant for reading a consistent view.
func (s *Service) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.db.Tx(ctx, fn)
}
