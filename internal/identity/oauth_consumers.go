package identity

import (
	"context"
	"database/sql"
	"errors"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// OS-OAUTH1 consumers. Only their CRUD is served: request and access
// tokens are not built, so a consumer cannot yet be used to delegate.

// Consumer is an OAuth1 client registered with identity. Its secret is
// shown once, when made; only a hash is kept.
type Consumer struct {
	ID          string
	Description *string // nil is shown as null
	Extra       map[string]any
}

const consumerColumns = `id, description, extra`

func scanConsumer(row interface{ Scan(...any) error }) (*Consumer, error) {
	var c Consumer
	var desc sql.NullString
	var extra string
	if err := row.Scan(&c.ID, &desc, &extra); err != nil {
		return nil, err
	}
	if desc.Valid {
		c.Description = &desc.String
	}
	c.Extra = decodeExtra(extra)
	return &c, nil
}

func getConsumer(ctx context.Context, q queryer, id string) (*Consumer, error) {
	c, err := scanConsumer(q.QueryRowContext(ctx, `SELECT `+consumerColumns+` FROM consumers WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find consumer: %s.", id)
	}
	return c, err
}

// ListConsumers lists OAuth1 consumers.
func (s *Service) ListConsumers(ctx context.Context, p *authn.Principal) ([]Consumer, error) {
	if err := s.authorize(p, "identity:list_consumers", nil); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+consumerColumns+` FROM consumers ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Consumer
	for rows.Next() {
		c, err := scanConsumer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// GetConsumer returns one consumer, without its secret.
func (s *Service) GetConsumer(ctx context.Context, p *authn.Principal, id string) (*Consumer, error) {
	if err := s.authorize(p, "identity:get_consumer", nil); err != nil {
		return nil, err
	}
	return getConsumer(ctx, s.db, id)
}

// CreateConsumer registers a consumer and returns it with its secret, which
// is not kept and cannot be shown again.
func (s *Service) CreateConsumer(ctx context.Context, p *authn.Principal, c Consumer) (*Consumer, string, error) {
	if err := s.authorize(p, "identity:create_consumer", nil); err != nil {
		return nil, "", err
	}
	c.ID = newID()
	secret := newID()
	hash, err := s.hashPassword(secret)
	if err != nil {
		return nil, "", err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO consumers (id, description, secret_hash, extra) VALUES ($1, $2, $3, $4)`,
			c.ID, nullableString(c.Description), hash, encodeExtra(c.Extra))
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return &c, secret, nil
}

// ConsumerPatch holds the fields an update changes. Description nil leaves
// it alone unless ClearDescription.
type ConsumerPatch struct {
	Description      *string
	ClearDescription bool
	Extra            map[string]any
}

// UpdateConsumer changes a consumer's description and extra attributes.
func (s *Service) UpdateConsumer(ctx context.Context, p *authn.Principal, id string, patch ConsumerPatch) (*Consumer, error) {
	if err := s.authorize(p, "identity:update_consumer", nil); err != nil {
		return nil, err
	}
	var out *Consumer
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := getConsumer(ctx, tx, id)
		if err != nil {
			return err
		}
		if patch.Description != nil {
			c.Description = patch.Description
		}
		if patch.ClearDescription {
			c.Description = nil
		}
		mergeExtra(&c.Extra, patch.Extra)
		if _, err := tx.ExecContext(ctx, `UPDATE consumers SET description = $2, extra = $3 WHERE id = $1`,
			c.ID, nullableString(c.Description), encodeExtra(c.Extra)); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// DeleteConsumer removes a consumer.
func (s *Service) DeleteConsumer(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, "identity:delete_consumer", nil); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getConsumer(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM consumers WHERE id = $1`, id)
		return err
	})
}

// HTTP.

func (h *handlers) consumerRoutes(rt routeTable) {
	rt.Handle("GET /v3/OS-OAUTH1/consumers", h.listConsumers)
	rt.Handle("POST /v3/OS-OAUTH1/consumers", h.createConsumer)
	rt.Handle("GET /v3/OS-OAUTH1/consumers/{id}", h.getConsumer)
	rt.Handle("PATCH /v3/OS-OAUTH1/consumers/{id}", h.updateConsumer)
	rt.Handle("DELETE /v3/OS-OAUTH1/consumers/{id}", h.deleteConsumer)
}

var consumerFields = []string{"id", "description", "secret", "links"}

func consumerWire(r *http.Request, c *Consumer) map[string]any {
	var desc any
	if c.Description != nil {
		desc = *c.Description
	}
	return withExtra(map[string]any{"id": c.ID, "description": desc,
		"links": selfLink(r, "OS-OAUTH1/consumers/"+c.ID)}, c.Extra)
}

// consumerDescription reads the optional, nullable description.
func consumerDescription(m map[string]any) (desc *string, null bool, err error) {
	v, ok := m["description"]
	if !ok {
		return nil, false, nil
	}
	if v == nil {
		return nil, true, nil
	}
	desc, err = reqString(m, "description")
	return desc, false, err
}

func (h *handlers) listConsumers(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.ListConsumers(r.Context(), principal(r))
	if err != nil {
		return err
	}
	items := make([]any, 0, len(cs))
	for i := range cs {
		items = append(items, consumerWire(r, &cs[i]))
	}
	return writeOK(w, map[string]any{"consumers": items, "links": listLinks(r)})
}

func (h *handlers) getConsumer(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.GetConsumer(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"consumer": consumerWire(r, c)})
}

func (h *handlers) createConsumer(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "consumer")
	if err != nil {
		return err
	}
	desc, _, err := consumerDescription(m)
	if err != nil {
		return err
	}
	c, secret, err := h.svc.CreateConsumer(r.Context(), principal(r), Consumer{Description: desc, Extra: extraFields(m, consumerFields...)})
	if err != nil {
		return err
	}
	body := consumerWire(r, c)
	body["secret"] = secret
	return writeCreated(w, map[string]any{"consumer": body})
}

func (h *handlers) updateConsumer(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "consumer")
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return fault.BadRequestf("Invalid input for field 'consumer': {} does not have enough properties.")
	}
	if _, ok := m["secret"]; ok {
		return fault.BadRequestf("Invalid input for field 'consumer': the secret cannot be changed.")
	}
	if v, ok := m["id"]; ok && v != r.PathValue("id") {
		return fault.BadRequestf("Cannot change consumer ID.")
	}
	var patch ConsumerPatch
	if patch.Description, patch.ClearDescription, err = consumerDescription(m); err != nil {
		return err
	}
	patch.Extra = extraFields(m, consumerFields...)
	c, err := h.svc.UpdateConsumer(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"consumer": consumerWire(r, c)})
}

func (h *handlers) deleteConsumer(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteConsumer(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}
