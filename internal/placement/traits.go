package placement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// TraitFilter narrows GET /traits.
type TraitFilter struct {
	In         []string // name=in:A,B
	Prefix     string   // name=startswith:P
	HasIn      bool
	Associated *bool
}

// ListTraits returns the traits passing f, by name.
func (s *Service) ListTraits(ctx context.Context, pr *authn.Principal, f TraitFilter) ([]Trait, error) {
	if err := s.authorize(pr, traitList, nil); err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.HasIn {
		if len(f.In) == 0 {
			return []Trait{}, nil
		}
		conds = append(conds, "name IN ("+inList(arg, f.In)+")")
	}
	if f.Prefix != "" {
		conds = append(conds, "name LIKE "+arg(escapeLike(f.Prefix)+"%")+" ESCAPE '\\'")
	}
	if f.Associated != nil {
		not := ""
		if !*f.Associated {
			not = "NOT "
		}
		conds = append(conds, "name "+not+"IN (SELECT trait FROM provider_traits)")
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	return queryTraits(ctx, s.db, `SELECT name, created_at, updated_at FROM traits `+where+` ORDER BY name`, args...)
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func queryTraits(ctx context.Context, q querier, query string, args ...any) ([]Trait, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list traits: %w", err)
	}
	defer rows.Close()
	out := []Trait{}
	for rows.Next() {
		var t Trait
		var c, u int64
		if err := rows.Scan(&t.Name, &c, &u); err != nil {
			return nil, err
		}
		t.CreatedAt, t.UpdatedAt = micros(c), micros(u)
		out = append(out, t)
	}
	return out, rows.Err()
}

// GetTrait returns one trait.
func (s *Service) GetTrait(ctx context.Context, pr *authn.Principal, name string) (*Trait, error) {
	if err := s.authorize(pr, traitShow, nil); err != nil {
		return nil, err
	}
	ts, err := queryTraits(ctx, s.db, `SELECT name, created_at, updated_at FROM traits WHERE name = $1`, name)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, fault.NotFoundf("No such trait(s): %s.", name)
	}
	return &ts[0], nil
}

// PutTrait creates a CUSTOM_ trait; created is false when it existed.
func (s *Service) PutTrait(ctx context.Context, pr *authn.Principal, name string) (t *Trait, created bool, err error) {
	if err := s.authorize(pr, traitUpdate, nil); err != nil {
		return nil, false, err
	}
	if len(name) > 255 || !customPattern.MatchString(name) {
		return nil, false, fault.BadRequestf(`The trait is invalid. A valid trait must be no longer than 255 characters, start with the prefix "CUSTOM_" and use following characters: "A"-"Z", "0"-"9" and "_"`)
	}
	now := s.now().UnixMicro()
	res, err := s.db.ExecContext(ctx, `INSERT INTO traits (name, created_at, updated_at) VALUES ($1, $2, $2)
		ON CONFLICT (name) DO NOTHING`, name, now)
	if err != nil {
		return nil, false, fmt.Errorf("add trait %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	ts, err := queryTraits(ctx, s.db, `SELECT name, created_at, updated_at FROM traits WHERE name = $1`, name)
	if err != nil || len(ts) == 0 {
		return nil, false, errors.Join(err, errors.New("trait vanished"))
	}
	return &ts[0], n == 1, nil
}

// DeleteTrait removes an unused CUSTOM_ trait.
func (s *Service) DeleteTrait(ctx context.Context, pr *authn.Principal, name string) error {
	if err := s.authorize(pr, traitDelete, nil); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		ts, err := queryTraits(ctx, tx, `SELECT name, created_at, updated_at FROM traits WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return fault.NotFoundf("No such trait(s): %s.", name)
		}
		if !strings.HasPrefix(name, "CUSTOM_") {
			return fault.BadRequestf("Cannot delete standard trait %s.", name)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM provider_traits WHERE trait = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fault.Conflictf("The trait %s is in use by a resource provider.", name)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM traits WHERE name = $1`, name)
		return err
	})
}

func traitsOf(ctx context.Context, q querier, provider string) ([]Trait, error) {
	return queryTraits(ctx, q, `SELECT t.name, t.created_at, t.updated_at FROM traits t
		JOIN provider_traits pt ON pt.trait = t.name WHERE pt.provider_uuid = $1 ORDER BY t.name`, provider)
}

// ProviderTraits returns a provider and its traits.
func (s *Service) ProviderTraits(ctx context.Context, pr *authn.Principal, id string) (*Provider, []Trait, error) {
	if err := s.authorize(pr, rpTraitList, nil); err != nil {
		return nil, nil, err
	}
	var p *Provider
	var ts []Trait
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = getProvider(ctx, tx, id); err != nil {
			return err
		}
		if p == nil {
			return fault.NotFoundf("No resource provider with uuid %s found: No resource provider with uuid %s found", id, id)
		}
		ts, err = traitsOf(ctx, tx, id)
		return err
	})
	return p, ts, err
}

// SetProviderTraits replaces a provider's traits when gen is still its
// generation; gen < 0 skips the check (DELETE).
func (s *Service) SetProviderTraits(ctx context.Context, pr *authn.Principal, rule, id string, gen int64, names []string) (*Provider, []Trait, error) {
	if err := s.authorize(pr, rule, nil); err != nil {
		return nil, nil, err
	}
	var p *Provider
	var ts []Trait
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = mustProvider(ctx, tx, id); err != nil {
			return err
		}
		if gen >= 0 && p.Generation != gen {
			return errConflict("Resource provider's generation already changed. Please update the generation and try again.")
		}
		if err := checkNames(ctx, tx, "traits", "No such trait %s", names); err != nil {
			return err
		}
		cur, err := traitsOf(ctx, tx, id)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, t := range cur {
			have[t.Name] = true
		}
		want := map[string]bool{}
		changed := false
		for _, n := range names {
			want[n] = true
			if !have[n] {
				changed = true
				if _, err := tx.ExecContext(ctx, `INSERT INTO provider_traits (provider_uuid, trait) VALUES ($1, $2)
					ON CONFLICT DO NOTHING`, id, n); err != nil {
					return fmt.Errorf("add trait %s to %s: %w", n, id, err)
				}
			}
		}
		for n := range have {
			if !want[n] {
				changed = true
				if _, err := tx.ExecContext(ctx, `DELETE FROM provider_traits WHERE provider_uuid = $1 AND trait = $2`, id, n); err != nil {
					return fmt.Errorf("remove trait %s from %s: %w", n, id, err)
				}
			}
		}
		if changed {
			if err := s.bumpGeneration(ctx, tx, p); err != nil {
				return errConflict("Another thread concurrently updated the resource provider data. Please retry your update")
			}
		}
		ts, err = traitsOf(ctx, tx, id)
		return err
	})
	return p, ts, err
}

func traitNames(ts []Trait) ([]string, time.Time) {
	out := make([]string, 0, len(ts))
	var lm time.Time
	for _, t := range ts {
		out = append(out, t.Name)
		lm = latest(lm, t.CreatedAt, t.UpdatedAt)
	}
	return out, lm
}

func (h *handlers) listTraits(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := checkQueryKeys(q, func(k string) bool { return k == "name" || k == "associated" }); err != nil {
		return err
	}
	var f TraitFilter
	if q.Has("name") {
		op, val, ok := strings.Cut(q.Get("name"), ":")
		if !ok {
			return fault.BadRequestf("Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: \"%s\"", q.Get("name"))
		}
		switch op {
		case "in":
			f.HasIn, f.In = true, strings.Split(val, ",")
		case "startswith":
			f.Prefix = val
		}
	}
	if q.Has("associated") {
		a := strings.ToLower(q.Get("associated"))
		if a != "true" && a != "false" {
			return fault.BadRequestf(`The query parameter "associated" only accepts "true" or "false"`)
		}
		assoc := a == "true"
		f.Associated = &assoc
	}
	ts, err := h.svc.ListTraits(r.Context(), principal(r), f)
	if err != nil {
		return err
	}
	names, lm := traitNames(ts)
	lastModified(w, r, lm)
	return writeJSON(w, http.StatusOK, map[string]any{"traits": names})
}

func (h *handlers) getTrait(w http.ResponseWriter, r *http.Request) error {
	t, err := h.svc.GetTrait(r.Context(), principal(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	lastModified(w, r, t.CreatedAt)
	return noContent(w)
}

func (h *handlers) putTrait(w http.ResponseWriter, r *http.Request) error {
	t, created, err := h.svc.PutTrait(r.Context(), principal(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/traits/"+t.Name)
	lastModified(w, r, t.CreatedAt)
	if created {
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	return noContent(w)
}

func (h *handlers) deleteTrait(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteTrait(r.Context(), principal(r), r.PathValue("name")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *handlers) sendProviderTraits(w http.ResponseWriter, r *http.Request, p *Provider, ts []Trait) error {
	names, lm := traitNames(ts)
	lastModified(w, r, lm)
	return writeJSON(w, http.StatusOK, map[string]any{"traits": names, "resource_provider_generation": p.Generation})
}

func (h *handlers) providerTraits(w http.ResponseWriter, r *http.Request) error {
	p, ts, err := h.svc.ProviderTraits(r.Context(), principal(r), r.PathValue("uuid"))
	if err != nil {
		return err
	}
	return h.sendProviderTraits(w, r, p, ts)
}

func (h *handlers) setProviderTraits(w http.ResponseWriter, r *http.Request) error {
	o, err := readObject(r, []string{"traits", "resource_provider_generation"}, "traits", "resource_provider_generation")
	if err != nil {
		return err
	}
	gen, err := o.int("resource_provider_generation")
	if err != nil {
		return err
	}
	names, err := stringList(o["traits"], 1, 255)
	if err != nil {
		return err
	}
	p, ts, err := h.svc.SetProviderTraits(r.Context(), principal(r), rpTraitUpdate, r.PathValue("uuid"), gen, names)
	if err != nil {
		return err
	}
	return h.sendProviderTraits(w, r, p, ts)
}

func (h *handlers) deleteProviderTraits(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := h.svc.SetProviderTraits(r.Context(), principal(r), rpTraitDelete, r.PathValue("uuid"), -1, nil); err != nil {
		return err
	}
	return noContent(w)
}
