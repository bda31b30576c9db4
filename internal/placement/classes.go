package placement

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

var standardIndex = func() map[string]int {
	m := map[string]int{}
	for i, c := range standardClasses {
		m[c] = i
	}
	return m
}()

func queryClasses(ctx context.Context, q querier, where string, args ...any) ([]ResourceClass, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, standard, created_at, updated_at FROM resource_classes `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list resource classes: %w", err)
	}
	defer rows.Close()
	var std, custom []ResourceClass
	for rows.Next() {
		var c ResourceClass
		var cr, up int64
		if err := rows.Scan(&c.Name, &c.Standard, &cr, &up); err != nil {
			return nil, err
		}
		c.CreatedAt, c.UpdatedAt = micros(cr), micros(up)
		if c.Standard {
			std = append(std, c)
		} else {
			custom = append(custom, c)
		}
	}
	// Standard classes first in os-resource-classes' order, as their ids
	// order them in placement; custom ones after, oldest first.
	sortBy(std, func(a, b ResourceClass) bool { return standardIndex[a.Name] < standardIndex[b.Name] })
	sortBy(custom, func(a, b ResourceClass) bool {
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.Name < b.Name
	})
	return append(std, custom...), rows.Err()
}

// ListClasses returns all resource classes.
func (s *Service) ListClasses(ctx context.Context, pr *authn.Principal) ([]ResourceClass, error) {
	if err := s.authorize(pr, rcList, nil); err != nil {
		return nil, err
	}
	return queryClasses(ctx, s.db, "")
}

func getClass(ctx context.Context, q querier, name string) (*ResourceClass, error) {
	cs, err := queryClasses(ctx, q, "WHERE name = $1", name)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fault.NotFoundf("No such resource class %s.", name)
	}
	return &cs[0], nil
}

// GetClass returns one resource class.
func (s *Service) GetClass(ctx context.Context, pr *authn.Principal, name string) (*ResourceClass, error) {
	if err := s.authorize(pr, rcShow, nil); err != nil {
		return nil, err
	}
	return getClass(ctx, s.db, name)
}

// CreateClass adds a CUSTOM_ class; exists reports one was there (the
// caller decides whether that is a conflict).
func (s *Service) CreateClass(ctx context.Context, pr *authn.Principal, rule, name string) (c *ResourceClass, exists bool, err error) {
	if err := s.authorize(pr, rule, nil); err != nil {
		return nil, false, err
	}
	now := s.now().UnixMicro()
	res, err := s.db.ExecContext(ctx, `INSERT INTO resource_classes (name, standard, created_at, updated_at)
		VALUES ($1, FALSE, $2, $2) ON CONFLICT (name) DO NOTHING`, name, now)
	if err != nil {
		return nil, false, fmt.Errorf("add resource class %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	c, err = getClass(ctx, s.db, name)
	return c, n == 0, err
}

// RenameClass renames a custom class (microversions 1.2 to 1.6).
func (s *Service) RenameClass(ctx context.Context, pr *authn.Principal, name, to string) (*ResourceClass, error) {
	if err := s.authorize(pr, rcUpdate, nil); err != nil {
		return nil, err
	}
	var out *ResourceClass
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		c, err := getClass(ctx, tx, name)
		if err != nil {
			return err
		}
		if c.Standard {
			return fault.BadRequestf("Cannot update standard resource class %s", name)
		}
		_, err = tx.ExecContext(ctx, `UPDATE resource_classes SET name = $2, updated_at = $3 WHERE name = $1`, name, to, s.now().UnixMicro())
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Resource class already exists: %s", to)
		}
		if err != nil {
			return fmt.Errorf("rename resource class %s: %w", name, err)
		}
		out, err = getClass(ctx, tx, to)
		return err
	})
	return out, err
}

// DeleteClass removes a custom class no inventory uses.
func (s *Service) DeleteClass(ctx context.Context, pr *authn.Principal, name string) error {
	if err := s.authorize(pr, rcDelete, nil); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		c, err := getClass(ctx, tx, name)
		if err != nil {
			return err
		}
		if c.Standard {
			return fault.BadRequestf("Error in delete resource class: Cannot delete standard resource class %s.", name)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM inventories WHERE resource_class = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fault.Conflictf("Error in delete resource class: Cannot delete resource class %s. Class is in use in inventory.", name)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM resource_classes WHERE name = $1`, name)
		return err
	})
}

func classURL(name string) string { return "/resource_classes/" + name }

func classWire(c *ResourceClass) map[string]any {
	return map[string]any{"name": c.Name, "links": []any{map[string]any{"rel": "self", "href": classURL(c.Name)}}}
}

func (h *handlers) listClasses(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.ListClasses(r.Context(), principal(r))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(cs))
	var lm time.Time
	for i := range cs {
		out = append(out, classWire(&cs[i]))
		lm = latest(lm, cs[i].CreatedAt, cs[i].UpdatedAt)
	}
	lastModified(w, r, lm)
	return writeJSON(w, http.StatusOK, map[string]any{"resource_classes": out})
}

// customName validates a CUSTOM_ class name as placement's schema does.
func customName(name string) error {
	if !customPattern.MatchString(name) {
		return invalid("'%s' does not match '^CUSTOM_[A-Z0-9_]+$'", name)
	}
	if len(name) > 255 {
		return invalid("'%s' is too long", name)
	}
	return nil
}

func (h *handlers) createClass(w http.ResponseWriter, r *http.Request) error {
	o, err := readObject(r, []string{"name"}, "name")
	if err != nil {
		return err
	}
	name, err := o.str("name", 0, 0)
	if err != nil {
		return err
	}
	if err := customName(name); err != nil {
		return err
	}
	c, exists, err := h.svc.CreateClass(r.Context(), principal(r), rcCreate, name)
	if err != nil {
		return err
	}
	if exists {
		return fault.Conflictf("Conflicting resource class already exists: %s", name)
	}
	w.Header().Set("Location", classURL(c.Name))
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *handlers) getClass(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.GetClass(r.Context(), principal(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	lastModified(w, r, latest(c.CreatedAt, c.UpdatedAt))
	return writeJSON(w, http.StatusOK, classWire(c))
}

func (h *handlers) putClass(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !mv(r).atLeast(7) {
		o, err := readObject(r, []string{"name"}, "name")
		if err != nil {
			return err
		}
		to, err := o.str("name", 0, 0)
		if err != nil {
			return err
		}
		if err := customName(to); err != nil {
			return err
		}
		c, err := h.svc.RenameClass(r.Context(), principal(r), name, to)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, classWire(c))
	}
	if err := customName(name); err != nil {
		return err
	}
	c, exists, err := h.svc.CreateClass(r.Context(), principal(r), rcUpdate, name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", classURL(c.Name))
	if exists {
		return noContent(w)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *handlers) deleteClass(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteClass(r.Context(), principal(r), r.PathValue("name")); err != nil {
		return err
	}
	return noContent(w)
}
