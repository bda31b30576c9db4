package placement

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/authn"
)

func aggregatesOf(ctx context.Context, q querier, provider string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT aggregate_uuid FROM provider_aggregates WHERE provider_uuid = $1
		ORDER BY aggregate_uuid`, provider)
	if err != nil {
		return nil, fmt.Errorf("aggregates of %s: %w", provider, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// GetAggregates returns a provider and its aggregates.
func (s *Service) GetAggregates(ctx context.Context, pr *authn.Principal, id string) (*Provider, []string, error) {
	if err := s.authorize(pr, aggList, nil); err != nil {
		return nil, nil, err
	}
	var p *Provider
	var aggs []string
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = mustProvider(ctx, tx, id); err != nil {
			return err
		}
		aggs, err = aggregatesOf(ctx, tx, id)
		return err
	})
	return p, aggs, err
}

// SetAggregates replaces a provider's aggregates. With a generation (1.19)
// it is checked and bumped; gen < 0 is the older, unchecked form.
func (s *Service) SetAggregates(ctx context.Context, pr *authn.Principal, id string, gen int64, aggs []string) (*Provider, error) {
	if err := s.authorize(pr, aggUpdate, nil); err != nil {
		return nil, err
	}
	var p *Provider
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = mustProvider(ctx, tx, id); err != nil {
			return err
		}
		if gen >= 0 && p.Generation != gen {
			return errConflict("Resource provider's generation already changed. Please update the generation and try again.")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM provider_aggregates WHERE provider_uuid = $1`, id); err != nil {
			return fmt.Errorf("clear aggregates of %s: %w", id, err)
		}
		for _, a := range aggs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO provider_aggregates (provider_uuid, aggregate_uuid) VALUES ($1, $2)`, id, a); err != nil {
				return fmt.Errorf("add aggregate %s to %s: %w", a, id, err)
			}
		}
		if gen >= 0 {
			if err := s.bumpGeneration(ctx, tx, p); err != nil {
				return errConflict("Update conflict: Another thread concurrently updated the resource provider data. Please retry your update")
			}
		}
		return nil
	})
	return p, err
}

func (h *handlers) sendAggregates(w http.ResponseWriter, r *http.Request, p *Provider, aggs []string) error {
	if aggs == nil {
		aggs = []string{}
	}
	body := map[string]any{"aggregates": aggs}
	if mv(r).atLeast(19) {
		body["resource_provider_generation"] = p.Generation
	}
	lastModified(w, r, h.svc.now())
	return writeJSON(w, http.StatusOK, body)
}

func (h *handlers) getAggregates(w http.ResponseWriter, r *http.Request) error {
	p, aggs, err := h.svc.GetAggregates(r.Context(), principal(r), r.PathValue("uuid"))
	if err != nil {
		return err
	}
	return h.sendAggregates(w, r, p, aggs)
}

func (h *handlers) setAggregates(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("uuid")
	if err := wantJSON(r); err != nil {
		return err
	}
	if _, err := h.svc.GetProvider(r.Context(), principal(r), id); err != nil {
		return err
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	gen := int64(-1)
	list := json.RawMessage(data)
	if mv(r).atLeast(19) {
		o, err := parseObject(data, "", []string{"aggregates", "resource_provider_generation"}, "aggregates", "resource_provider_generation")
		if err != nil {
			return err
		}
		if gen, err = o.int("resource_provider_generation"); err != nil {
			return err
		}
		list = o["aggregates"]
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(list, &raw); err != nil || list[0] != '[' {
		return invalid("%s is not of type 'array'", pyRepr(list))
	}
	var aggs []string
	seen := map[string]bool{}
	for _, item := range raw {
		var s string
		if err := json.Unmarshal(item, &s); err != nil || item[0] != '"' {
			return invalid("%s is not of type 'string'", pyRepr(item))
		}
		c, ok := canonicalUUID(s)
		if !ok {
			return invalid("'%s' is not a 'uuid'", s)
		}
		if seen[s] {
			return invalid("%s has non-unique elements", string(list))
		}
		seen[s] = true
		if !contains(aggs, c) {
			aggs = append(aggs, c)
		}
	}
	p, err := h.svc.SetAggregates(r.Context(), principal(r), id, gen, aggs)
	if err != nil {
		return err
	}
	return h.sendAggregates(w, r, p, aggs)
}
