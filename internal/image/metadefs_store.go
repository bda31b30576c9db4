package image

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// The metadefs catalog's SQL: namespaces and the definitions in them.
const namespaceColumns = `id, namespace, display_name, description, visibility, protected, owner, created_at, updated_at`

func scanNamespace(row interface{ Scan(...any) error }) (*Namespace, error) {
	var ns Namespace
	var c, u int64
	if err := row.Scan(&ns.ID, &ns.Namespace, &ns.DisplayName, &ns.Description, &ns.Visibility,
		&ns.Protected, &ns.Owner, &c, &u); err != nil {
		return nil, err
	}
	ns.CreatedAt, ns.UpdatedAt = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
	return &ns, nil
}

func getNamespace(ctx context.Context, q queryer, name string) (*Namespace, error) {
	ns, err := scanNamespace(q.QueryRowContext(ctx, `SELECT `+namespaceColumns+` FROM metadef_namespaces WHERE namespace = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, namespaceNotFound(name)
	}
	return ns, err
}

func insertNamespace(ctx context.Context, q queryer, ns *Namespace) error {
	_, err := q.ExecContext(ctx, `INSERT INTO metadef_namespaces (`+namespaceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		ns.ID, ns.Namespace, ns.DisplayName, ns.Description, ns.Visibility, ns.Protected, ns.Owner,
		ns.CreatedAt.UnixMicro(), ns.UpdatedAt.UnixMicro())
	if db.IsUniqueViolation(err) {
		return fault.Conflictf("Metadata definition namespace=%s already exists.", ns.Namespace)
	}
	return err
}

func objectJSON(o *MetadefObject) (required, props string) {
	req := o.Required
	if req == nil {
		req = []string{}
	}
	r, _ := json.Marshal(req)
	pm := o.Properties
	if pm == nil {
		pm = map[string]PropertySchema{}
	}
	pj, _ := json.Marshal(pm)
	return string(r), string(pj)
}

func insertObject(ctx context.Context, q queryer, ns *Namespace, o *MetadefObject) error {
	req, props := objectJSON(o)
	_, err := q.ExecContext(ctx, `INSERT INTO metadef_objects (namespace_id, name, description, required, properties,
		created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		ns.ID, o.Name, o.Description, req, props, o.CreatedAt.UnixMicro(), o.UpdatedAt.UnixMicro())
	if db.IsUniqueViolation(err) {
		return fault.Conflictf("A metadata definition object with name=%s already exists in namespace=%s.", o.Name, ns.Namespace)
	}
	return err
}

const objectColumns = `name, description, required, properties, created_at, updated_at`

func scanObject(row interface{ Scan(...any) error }) (*MetadefObject, error) {
	var o MetadefObject
	var req, props string
	var c, u int64
	if err := row.Scan(&o.Name, &o.Description, &req, &props, &c, &u); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(req), &o.Required); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(props), &o.Properties); err != nil {
		return nil, err
	}
	o.CreatedAt, o.UpdatedAt = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
	return &o, nil
}

func getObject(ctx context.Context, q queryer, ns *Namespace, name string) (*MetadefObject, error) {
	o, err := scanObject(q.QueryRowContext(ctx, `SELECT `+objectColumns+` FROM metadef_objects
		WHERE namespace_id = $1 AND name = $2`, ns.ID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, objectNotFound(ns, name)
	}
	return o, err
}

func listObjects(ctx context.Context, q queryer, ns *Namespace) ([]MetadefObject, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+objectColumns+` FROM metadef_objects WHERE namespace_id = $1 ORDER BY name`, ns.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MetadefObject
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, rows.Err()
}

func insertProperty(ctx context.Context, q queryer, ns *Namespace, pr *MetadefProperty) error {
	js, _ := json.Marshal(pr.Schema)
	_, err := q.ExecContext(ctx, `INSERT INTO metadef_properties (namespace_id, name, json_schema, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)`, ns.ID, pr.Name, string(js), pr.CreatedAt.UnixMicro(), pr.UpdatedAt.UnixMicro())
	if db.IsUniqueViolation(err) {
		return fault.Conflictf("A metadata definition property with name=%s already exists in namespace=%s.", pr.Name, ns.Namespace)
	}
	return err
}

func scanProperty(row interface{ Scan(...any) error }) (*MetadefProperty, error) {
	var pr MetadefProperty
	var js string
	var c, u int64
	if err := row.Scan(&pr.Name, &js, &c, &u); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(js), &pr.Schema); err != nil {
		return nil, err
	}
	pr.CreatedAt, pr.UpdatedAt = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
	return &pr, nil
}

func getProperty(ctx context.Context, q queryer, ns *Namespace, name string) (*MetadefProperty, error) {
	pr, err := scanProperty(q.QueryRowContext(ctx, `SELECT name, json_schema, created_at, updated_at FROM metadef_properties
		WHERE namespace_id = $1 AND name = $2`, ns.ID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, propertyNotFound(ns, name)
	}
	return pr, err
}

func listProperties(ctx context.Context, q queryer, ns *Namespace) ([]MetadefProperty, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, json_schema, created_at, updated_at FROM metadef_properties
		WHERE namespace_id = $1 ORDER BY name`, ns.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MetadefProperty
	for rows.Next() {
		pr, err := scanProperty(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *pr)
	}
	return out, rows.Err()
}

func insertTag(ctx context.Context, q queryer, ns *Namespace, t *MetadefTag) error {
	_, err := q.ExecContext(ctx, `INSERT INTO metadef_tags (namespace_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)`,
		ns.ID, t.Name, t.CreatedAt.UnixMicro(), t.UpdatedAt.UnixMicro())
	if db.IsUniqueViolation(err) {
		return fault.Conflictf("A metadata tag with name=%s already exists in namespace=%s.", t.Name, ns.Namespace)
	}
	return err
}

func getTag(ctx context.Context, q queryer, ns *Namespace, name string) (*MetadefTag, error) {
	var t MetadefTag
	var c, u int64
	err := q.QueryRowContext(ctx, `SELECT name, created_at, updated_at FROM metadef_tags WHERE namespace_id = $1 AND name = $2`,
		ns.ID, name).Scan(&t.Name, &c, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tagNotFound(ns, name)
	}
	if err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
	return &t, nil
}

func listTags(ctx context.Context, q queryer, ns *Namespace) ([]MetadefTag, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, created_at, updated_at FROM metadef_tags WHERE namespace_id = $1 ORDER BY name`, ns.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MetadefTag
	for rows.Next() {
		var t MetadefTag
		var c, u int64
		if err := rows.Scan(&t.Name, &c, &u); err != nil {
			return nil, err
		}
		t.CreatedAt, t.UpdatedAt = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

func insertAssociation(ctx context.Context, q queryer, ns *Namespace, a *ResourceTypeAssociation) error {
	// Glance creates a resource type the first time a namespace names it.
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM metadef_resource_types WHERE name = $1`, a.Name).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := q.ExecContext(ctx, `INSERT INTO metadef_resource_types (name, protected, created_at, updated_at)
			VALUES ($1, FALSE, $2, $3)`, a.Name, a.CreatedAt.UnixMicro(), a.UpdatedAt.UnixMicro()); err != nil {
			return err
		}
	}
	_, err := q.ExecContext(ctx, `INSERT INTO metadef_namespace_resource_types (namespace_id, resource_type, prefix,
		properties_target, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ns.ID, a.Name, a.Prefix, a.PropertiesTarget, a.CreatedAt.UnixMicro(), a.UpdatedAt.UnixMicro())
	if db.IsUniqueViolation(err) {
		return fault.Conflictf("The metadata definition resource-type association of resource-type=%s to namespace=%s, already exists.", a.Name, ns.Namespace)
	}
	return err
}

func listAssociations(ctx context.Context, q queryer, ns *Namespace) ([]ResourceTypeAssociation, error) {
	rows, err := q.QueryContext(ctx, `SELECT resource_type, prefix, properties_target, created_at, updated_at
		FROM metadef_namespace_resource_types WHERE namespace_id = $1 ORDER BY created_at, resource_type`, ns.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ResourceTypeAssociation
	for rows.Next() {
		var a ResourceTypeAssociation
		var c, u int64
		if err := rows.Scan(&a.Name, &a.Prefix, &a.PropertiesTarget, &c, &u); err != nil {
			return nil, err
		}
		a.CreatedAt, a.UpdatedAt = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}
