package placement

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"regexp"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// ProviderUsages returns a provider and its usage of every class it has
// inventory of.
func (s *Service) ProviderUsages(ctx context.Context, pr *authn.Principal, id string) (*Provider, map[string]int64, error) {
	if err := s.authorize(pr, rpUsages, nil); err != nil {
		return nil, nil, err
	}
	var p *Provider
	out := map[string]int64{}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = getProvider(ctx, tx, id); err != nil {
			return err
		}
		if p == nil {
			return fault.NotFoundf("No resource provider with uuid %s found: No resource provider with uuid %s found", id, id)
		}
		invs, err := inventoriesOf(ctx, tx, id)
		if err != nil {
			return err
		}
		used, err := usageOf(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, i := range invs {
			out[i.ResourceClass] = used[i.ResourceClass]
		}
		return nil
	})
	return p, out, err
}

// TypeUsage is the usage of one consumer type (1.38).
type TypeUsage struct {
	Usage     map[string]int64
	Consumers int64
}

// TotalUsages sums a project's (or project user's) allocations by class.
// byType (1.38) groups them by consumer type: consumerType "" shows each
// type, "all" one group of all, "unknown" those written before 1.38.
func (s *Service) TotalUsages(ctx context.Context, pr *authn.Principal, project, user string, byType bool, consumerType string) (map[string]*TypeUsage, error) {
	if err := s.authorize(pr, totalUsages, map[string]any{"project_id": project}); err != nil {
		return nil, err
	}
	query := `SELECT COALESCE(c.consumer_type, ''), a.resource_class, SUM(a.used), COUNT(DISTINCT a.consumer_uuid)
		FROM allocations a JOIN consumers c ON c.uuid = a.consumer_uuid WHERE c.project_id = $1`
	args := []any{project}
	if user != "" {
		query += ` AND c.user_id = $2`
		args = append(args, user)
	}
	rows, err := s.db.QueryContext(ctx, query+` GROUP BY COALESCE(c.consumer_type, ''), a.resource_class`, args...)
	if err != nil {
		return nil, fmt.Errorf("total usages of %s: %w", project, err)
	}
	defer rows.Close()
	out := map[string]*TypeUsage{}
	for rows.Next() {
		var typ, rc string
		var used, n int64
		if err := rows.Scan(&typ, &rc, &used, &n); err != nil {
			return nil, err
		}
		key := ""
		if byType {
			key = consumerTypeName(typ)
			switch consumerType {
			case "":
			case "all":
				key = "all"
			case "unknown":
				if typ != "" {
					continue
				}
			default:
				if typ != consumerType {
					continue
				}
			}
		}
		tu := out[key]
		if tu == nil {
			tu = &TypeUsage{Usage: map[string]int64{}}
			out[key] = tu
		}
		tu.Usage[rc] += used
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if byType {
		// Consumer counts are of distinct consumers per group, which the
		// per-class rows cannot add up to.
		cq := `SELECT COALESCE(c.consumer_type, ''), COUNT(DISTINCT c.uuid) FROM consumers c
			WHERE c.project_id = $1 AND EXISTS (SELECT 1 FROM allocations a WHERE a.consumer_uuid = c.uuid)`
		if user != "" {
			cq += ` AND c.user_id = $2`
		}
		crows, err := s.db.QueryContext(ctx, cq+` GROUP BY COALESCE(c.consumer_type, '')`, args...)
		if err != nil {
			return nil, fmt.Errorf("count consumers of %s: %w", project, err)
		}
		defer crows.Close()
		for crows.Next() {
			var typ string
			var n int64
			if err := crows.Scan(&typ, &n); err != nil {
				return nil, err
			}
			key := consumerTypeName(typ)
			if consumerType == "all" {
				key = "all"
			}
			if tu := out[key]; tu != nil {
				tu.Consumers += n
			}
		}
		if err := crows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func consumerTypeName(t string) string { return consumerType(t) }

func (h *handlers) providerUsages(w http.ResponseWriter, r *http.Request) error {
	p, used, err := h.svc.ProviderUsages(r.Context(), principal(r), r.PathValue("uuid"))
	if err != nil {
		return err
	}
	lastModified(w, r, h.svc.now())
	return writeJSON(w, http.StatusOK, map[string]any{"resource_provider_generation": p.Generation, "usages": used})
}

var consumerTypeQuery = regexp.MustCompile(`^[A-Z0-9_]+$|^all|^unknown$`)

func (h *handlers) totalUsages(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	q := r.URL.Query()
	project, user, ctype := q.Get("project_id"), q.Get("user_id"), q.Get("consumer_type")
	if err := h.svc.authorize(principal(r), totalUsages, map[string]any{"project_id": project}); err != nil {
		return err
	}
	byType := v.atLeast(38)
	if err := checkQueryKeys(q, func(k string) bool {
		return k == "project_id" || k == "user_id" || (byType && k == "consumer_type")
	}); err != nil {
		return err
	}
	if !q.Has("project_id") {
		return badQuery("'project_id' is a required property")
	}
	for k, val := range map[string]string{"project_id": project, "user_id": user, "consumer_type": ctype} {
		if q.Has(k) && (len(val) < 1 || len(val) > 255) {
			return badQuery("'%s' is too short", val)
		}
	}
	if q.Has("consumer_type") && !consumerTypeQuery.MatchString(ctype) {
		return badQuery("'%s' does not match '%s'", ctype, consumerTypeQuery.String())
	}
	groups, err := h.svc.TotalUsages(r.Context(), principal(r), project, user, byType, ctype)
	if err != nil {
		return err
	}
	lastModified(w, r, h.svc.now())
	if !byType {
		usage := map[string]int64{}
		if g := groups[""]; g != nil {
			usage = g.Usage
		}
		return writeJSON(w, http.StatusOK, map[string]any{"usages": usage})
	}
	out := map[string]any{}
	for typ, g := range groups {
		m := map[string]any{"consumer_count": g.Consumers}
		for rc, n := range g.Usage {
			m[rc] = n
		}
		out[typ] = m
	}
	return writeJSON(w, http.StatusOK, map[string]any{"usages": out})
}
