package placement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Claim replaces one consumer's allocations. Empty Allocations removes
// them all.
type Claim struct {
	Consumer          string
	ProjectID, UserID string // "" before 1.8: the incomplete-consumer ids
	// Generation is the consumer generation the caller saw (1.28); nil
	// means it expects the consumer not to exist.
	Generation   *int64
	ConsumerType string                      // 1.38; "" keeps the current one
	Allocations  map[string]map[string]int64 // provider -> class -> amount
}

func getConsumer(ctx context.Context, q querier, id string) (*Consumer, error) {
	var c Consumer
	var typ sql.NullString
	var cr, up int64
	err := q.QueryRowContext(ctx, `SELECT uuid, project_id, user_id, consumer_type, generation, created_at, updated_at
		FROM consumers WHERE uuid = $1`, id).Scan(&c.UUID, &c.ProjectID, &c.UserID, &typ, &c.Generation, &cr, &up)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get consumer %s: %w", id, err)
	}
	c.Type, c.CreatedAt, c.UpdatedAt = typ.String, micros(cr), micros(up)
	return &c, nil
}

func allocationsWhere(ctx context.Context, q querier, where string, args ...any) ([]Allocation, error) {
	rows, err := q.QueryContext(ctx, `SELECT consumer_uuid, provider_uuid, resource_class, used, created_at, updated_at
		FROM allocations `+where+` ORDER BY consumer_uuid, provider_uuid, resource_class`, args...)
	if err != nil {
		return nil, fmt.Errorf("list allocations: %w", err)
	}
	defer rows.Close()
	var out []Allocation
	for rows.Next() {
		var a Allocation
		var cr, up int64
		if err := rows.Scan(&a.ConsumerUUID, &a.ProviderUUID, &a.ResourceClass, &a.Used, &cr, &up); err != nil {
			return nil, err
		}
		a.CreatedAt, a.UpdatedAt = micros(cr), micros(up)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Claim writes the allocations of every claim at once, or none: capacity
// is checked and the generations of the providers and consumers involved
// bumped in one transaction. A claim racing another on a provider
// generation is retried; on a consumer generation it fails with 409.
func (s *Service) Claim(ctx context.Context, pr *authn.Principal, rule string, claims []Claim, v version, post bool) error {
	if err := s.authorize(pr, rule, nil); err != nil {
		return err
	}
	for i := range claims {
		if claims[i].ProjectID == "" {
			claims[i].ProjectID, claims[i].UserID = s.cfg.IncompleteConsumerProjectID, s.cfg.IncompleteConsumerUserID
		}
	}
	var err error
	for try := 0; try < s.cfg.AllocationConflictRetries; try++ {
		err = s.db.Tx(ctx, func(tx *sql.Tx) error { return s.claim(ctx, tx, claims, v, post) })
		if !errors.Is(err, errGenerationMoved) {
			return err
		}
		s.log.DebugContext(ctx, "retrying allocations write on resource provider generation conflict")
	}
	return errConflict("Inventory and/or allocations changed while attempting to allocate: Another thread concurrently updated the resource provider data. Please retry your update")
}

func (s *Service) claim(ctx context.Context, tx *sql.Tx, claims []Claim, v version, post bool) error {
	prefix := "Unable to allocate inventory for consumer %s: "
	consumers := map[string]*Consumer{}
	for _, c := range claims {
		cur, err := getConsumer(ctx, tx, c.Consumer)
		if err != nil {
			return err
		}
		if v.atLeast(28) {
			switch {
			case cur != nil && (c.Generation == nil || *c.Generation != cur.Generation):
				got := "None"
				if c.Generation != nil {
					got = fmt.Sprint(*c.Generation)
				}
				return errConflict("consumer generation conflict - expected %d but got %s", cur.Generation, got)
			case cur == nil && c.Generation != nil:
				return errConflict("consumer generation conflict - expected null but got %d", *c.Generation)
			}
		}
		consumers[c.Consumer] = cur
	}

	// Every provider named must exist; lock them (PostgreSQL) in a fixed
	// order so that concurrent claims queue instead of deadlocking.
	wanted := map[string]bool{}
	var classes []string
	for _, c := range claims {
		for rp, res := range c.Allocations {
			wanted[rp] = true
			for rc := range res {
				classes = append(classes, rc)
			}
		}
	}
	rps := sortedKeys(wanted)
	providers := map[string]*Provider{}
	for _, id := range rps {
		p, err := s.lockProvider(ctx, tx, id)
		if err != nil {
			return err
		}
		if p == nil {
			return fault.BadRequestf("Allocation for resource provider '%s' that does not exist.", id)
		}
		providers[id] = p
	}
	if err := checkNames(ctx, tx, "resource_classes", "No such resource class %s.", classes); err != nil {
		if post {
			return fault.BadRequestf("Unable to allocate inventory %s", err.(*fault.Error).Msg)
		}
		return fault.BadRequestf(prefix+"%s", claims[0].Consumer, err.(*fault.Error).Msg)
	}

	// Drop what the consumers hold now, remembering the usage before, so
	// that a claim which lowers an existing overage is let through.
	prevUsage := map[string]map[string]int64{}
	for _, id := range rps {
		u, err := usageOf(ctx, tx, id)
		if err != nil {
			return err
		}
		prevUsage[id] = u
	}
	cleared := map[string]bool{} // providers of allocations removed without replacement
	for _, c := range claims {
		if len(c.Allocations) == 0 {
			old, err := allocationsWhere(ctx, tx, `WHERE consumer_uuid = $1`, c.Consumer)
			if err != nil {
				return err
			}
			for _, a := range old {
				cleared[a.ProviderUUID] = true
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM allocations WHERE consumer_uuid = $1`, c.Consumer); err != nil {
			return fmt.Errorf("clear allocations of %s: %w", c.Consumer, err)
		}
	}

	// Check every (provider, class) against its inventory.
	need := map[[2]string]int64{}
	for _, c := range claims {
		for _, rp := range sortedKeys(c.Allocations) {
			for _, rc := range sortedKeys(c.Allocations[rp]) {
				need[[2]string{rp, rc}] += c.Allocations[rp][rc]
			}
		}
	}
	invs := map[string]map[string]Inventory{}
	used := map[string]map[string]int64{}
	for _, id := range rps {
		list, err := inventoriesOf(ctx, tx, id)
		if err != nil {
			return err
		}
		invs[id] = map[string]Inventory{}
		for _, i := range list {
			invs[id][i.ResourceClass] = i
		}
		if used[id], err = usageOf(ctx, tx, id); err != nil {
			return err
		}
	}
	for _, c := range claims {
		for _, rp := range sortedKeys(c.Allocations) {
			for _, rc := range sortedKeys(c.Allocations[rp]) {
				amount := c.Allocations[rp][rc]
				inv, ok := invs[rp][rc]
				if !ok {
					return fault.Conflictf("Unable to allocate inventory: Inventory for '%s' on resource provider '%s' invalid.", rc, rp)
				}
				if amount < inv.MinUnit || amount > inv.MaxUnit || amount%inv.Step != 0 {
					return fault.Conflictf("Unable to allocate inventory: Unable to create allocation for '%s' on resource provider '%s'. The requested amount would violate inventory constraints.", rc, rp)
				}
				u := used[rp][rc]
				total := u + need[[2]string{rp, rc}]
				capacity := float64(inv.Total-inv.Reserved) * inv.AllocationRatio
				if float64(u+amount) > capacity || float64(total) > capacity {
					prev, had := prevUsage[rp][rc]
					if !had || total > prev {
						return fault.Conflictf("Unable to allocate inventory: Unable to create allocation for '%s' on resource provider '%s'. The requested amount would exceed the capacity.", rc, rp)
					}
					s.log.WarnContext(ctx, "over capacity, but the allocation reduces the existing overage",
						"resource_class", rc, "provider", rp, "used", total, "previous", prev)
				}
			}
		}
	}

	now := s.now().UnixMicro()
	for _, c := range claims {
		cur := consumers[c.Consumer]
		if len(c.Allocations) == 0 {
			if cur != nil {
				if err := s.bumpConsumer(ctx, tx, cur); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM consumers WHERE uuid = $1`, c.Consumer); err != nil {
					return fmt.Errorf("delete consumer %s: %w", c.Consumer, err)
				}
			}
			continue
		}
		var typ any
		if c.ConsumerType != "" {
			typ = c.ConsumerType
		}
		if cur == nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO consumers (uuid, project_id, user_id, consumer_type, generation,
				created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5)`, c.Consumer, c.ProjectID, c.UserID, typ, now)
			if db.IsUniqueViolation(err) {
				return errConflict("consumer generation conflict - expected null but the consumer was created concurrently")
			}
			if err != nil {
				return fmt.Errorf("add consumer %s: %w", c.Consumer, err)
			}
		} else {
			if c.ConsumerType == "" {
				typ = nullable(cur.Type)
			}
			res, err := tx.ExecContext(ctx, `UPDATE consumers SET project_id = $3, user_id = $4, consumer_type = $5,
				generation = generation + 1, updated_at = $6 WHERE uuid = $1 AND generation = $2`,
				c.Consumer, cur.Generation, c.ProjectID, c.UserID, typ, now)
			if err != nil {
				return fmt.Errorf("update consumer %s: %w", c.Consumer, err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errConflict("consumer generation conflict - the consumer %s changed concurrently", c.Consumer)
			}
		}
		for _, rp := range sortedKeys(c.Allocations) {
			for _, rc := range sortedKeys(c.Allocations[rp]) {
				if _, err := tx.ExecContext(ctx, `INSERT INTO allocations (consumer_uuid, provider_uuid, resource_class, used,
					created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`, c.Consumer, rp, rc, c.Allocations[rp][rc], now); err != nil {
					return fmt.Errorf("add allocation of %s on %s: %w", rc, rp, err)
				}
			}
		}
	}
	for id := range cleared {
		if _, ok := providers[id]; !ok {
			p, err := getProvider(ctx, tx, id)
			if err != nil {
				return err
			}
			if p != nil {
				providers[id] = p
			}
		}
	}
	for _, id := range sortedKeys(providers) {
		if err := s.bumpGeneration(ctx, tx, providers[id]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) bumpConsumer(ctx context.Context, tx querier, c *Consumer) error {
	res, err := tx.ExecContext(ctx, `UPDATE consumers SET generation = generation + 1 WHERE uuid = $1 AND generation = $2`,
		c.UUID, c.Generation)
	if err != nil {
		return fmt.Errorf("bump consumer %s: %w", c.UUID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errConflict("consumer generation conflict - the consumer %s changed concurrently", c.UUID)
	}
	return nil
}

// lockProvider reads a provider for a claim. On PostgreSQL it takes the
// row lock, so claims on one provider queue; SQLite's single writer has
// serialised the transaction already.
func (s *Service) lockProvider(ctx context.Context, tx querier, id string) (*Provider, error) {
	if s.db.Engine != db.Postgres {
		return getProvider(ctx, tx, id)
	}
	p, err := scanProvider(tx.QueryRowContext(ctx, `SELECT `+providerCols+` FROM resource_providers WHERE uuid = $1 FOR UPDATE`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock provider %s: %w", id, err)
	}
	return p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ConsumerAllocations is a consumer's allocations with the providers'
// generations.
type ConsumerAllocations struct {
	Consumer    *Consumer // nil when it has none
	Allocations []Allocation
	Generations map[string]int64 // provider -> generation
}

// GetAllocations returns what a consumer holds.
func (s *Service) GetAllocations(ctx context.Context, pr *authn.Principal, consumer string) (*ConsumerAllocations, error) {
	if err := s.authorize(pr, allocList, nil); err != nil {
		return nil, err
	}
	out := &ConsumerAllocations{Generations: map[string]int64{}}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if out.Allocations, err = allocationsWhere(ctx, tx, `WHERE consumer_uuid = $1`, consumer); err != nil {
			return err
		}
		if len(out.Allocations) == 0 {
			return nil
		}
		if out.Consumer, err = getConsumer(ctx, tx, consumer); err != nil {
			return err
		}
		for _, a := range out.Allocations {
			if _, ok := out.Generations[a.ProviderUUID]; ok {
				continue
			}
			p, err := getProvider(ctx, tx, a.ProviderUUID)
			if err != nil {
				return err
			}
			if p != nil {
				out.Generations[a.ProviderUUID] = p.Generation
			}
		}
		return nil
	})
	return out, err
}

// DeleteAllocations removes all of a consumer's allocations, and the
// consumer with them.
func (s *Service) DeleteAllocations(ctx context.Context, pr *authn.Principal, consumer string) error {
	if err := s.authorize(pr, allocDelete, nil); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM allocations WHERE consumer_uuid = $1`, consumer)
		if err != nil {
			return fmt.Errorf("delete allocations of %s: %w", consumer, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.NotFoundf("No allocations for consumer '%s'", consumer)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM consumers WHERE uuid = $1`, consumer)
		return err
	})
}

// ProviderAllocations is what consumers hold on one provider.
type ProviderAllocations struct {
	Provider    *Provider
	Allocations []Allocation
	Consumers   map[string]*Consumer
}

// GetProviderAllocations returns the allocations against a provider.
func (s *Service) GetProviderAllocations(ctx context.Context, pr *authn.Principal, id string) (*ProviderAllocations, error) {
	if err := s.authorize(pr, rpAllocList, nil); err != nil {
		return nil, err
	}
	out := &ProviderAllocations{Consumers: map[string]*Consumer{}}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if out.Provider, err = getProvider(ctx, tx, id); err != nil {
			return err
		}
		if out.Provider == nil {
			return fault.NotFoundf("Resource provider '%s' not found: No resource provider with uuid %s found", id, id)
		}
		if out.Allocations, err = allocationsWhere(ctx, tx, `WHERE provider_uuid = $1`, id); err != nil {
			return err
		}
		for _, a := range out.Allocations {
			if _, ok := out.Consumers[a.ConsumerUUID]; ok {
				continue
			}
			c, err := getConsumer(ctx, tx, a.ConsumerUUID)
			if err != nil {
				return err
			}
			out.Consumers[a.ConsumerUUID] = c
		}
		return nil
	})
	return out, err
}

var _ = strings.Join
