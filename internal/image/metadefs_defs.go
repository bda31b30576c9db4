package image

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// The definitions inside a metadefs namespace: objects, properties, tags
// and resource type associations. Reads need the namespace visible;
// deletes need it unprotected.

// Objects.

func objectNotFound(ns *Namespace, name string) error {
	return fault.NotFoundf("Metadata definition object=%s was not found in namespace=%s.", name, ns.Namespace)
}

// ListObjects lists a namespace's objects by name.
func (s *Service) ListObjects(ctx context.Context, p *authn.Principal, nsName string) ([]MetadefObject, error) {
	ns, err := s.namespaceFor(ctx, s.db, p, nsName, "get_metadef_objects")
	if err != nil {
		return nil, err
	}
	return listObjects(ctx, s.db, ns)
}

// CreateObject adds an object to a namespace.
func (s *Service) CreateObject(ctx context.Context, p *authn.Principal, nsName string, o MetadefObject) (*MetadefObject, error) {
	if err := checkObject(&o); err != nil {
		return nil, err
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "add_metadef_object")
		if err != nil {
			return err
		}
		o.CreatedAt = s.metadefNow()
		o.UpdatedAt = o.CreatedAt
		return insertObject(ctx, tx, ns, &o)
	})
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// GetObject returns one object.
func (s *Service) GetObject(ctx context.Context, p *authn.Principal, nsName, name string) (*MetadefObject, error) {
	ns, err := s.namespaceFor(ctx, s.db, p, nsName, "get_metadef_object")
	if err != nil {
		return nil, err
	}
	return getObject(ctx, s.db, ns, name)
}

// UpdateObject replaces an object (and may rename it).
func (s *Service) UpdateObject(ctx context.Context, p *authn.Principal, nsName, name string, o MetadefObject) (*MetadefObject, error) {
	if err := checkObject(&o); err != nil {
		return nil, err
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "modify_metadef_object")
		if err != nil {
			return err
		}
		old, err := getObject(ctx, tx, ns, name)
		if err != nil {
			return err
		}
		o.CreatedAt, o.UpdatedAt = old.CreatedAt, s.metadefNow()
		req, props := objectJSON(&o)
		_, err = tx.ExecContext(ctx, `UPDATE metadef_objects SET name = $3, description = $4, required = $5,
			properties = $6, updated_at = $7 WHERE namespace_id = $1 AND name = $2`,
			ns.ID, name, o.Name, o.Description, req, props, o.UpdatedAt.UnixMicro())
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("A metadata definition object with name=%s already exists in namespace=%s.", o.Name, ns.Namespace)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// DeleteObject removes an object from an unprotected namespace.
func (s *Service) DeleteObject(ctx context.Context, p *authn.Principal, nsName, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "delete_metadef_object")
		if err != nil {
			return err
		}
		if _, err := getObject(ctx, tx, ns, name); err != nil {
			return err
		}
		if ns.Protected {
			return protectedNamespace(ns, "its objects")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM metadef_objects WHERE namespace_id = $1 AND name = $2`, ns.ID, name)
		return err
	})
}

// Properties.

func propertyNotFound(ns *Namespace, name string) error {
	return fault.NotFoundf("Metadata definition property=%s was not found in namespace=%s.", name, ns.Namespace)
}

// ListProperties lists a namespace's property definitions by name.
func (s *Service) ListProperties(ctx context.Context, p *authn.Principal, nsName string) ([]MetadefProperty, error) {
	ns, err := s.namespaceFor(ctx, s.db, p, nsName, "get_metadef_properties")
	if err != nil {
		return nil, err
	}
	return listProperties(ctx, s.db, ns)
}

// CreateProperty adds a property definition to a namespace.
func (s *Service) CreateProperty(ctx context.Context, p *authn.Principal, nsName string, pr MetadefProperty) (*MetadefProperty, error) {
	if err := checkProperty(&pr); err != nil {
		return nil, err
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "add_metadef_property")
		if err != nil {
			return err
		}
		pr.CreatedAt = s.metadefNow()
		pr.UpdatedAt = pr.CreatedAt
		return insertProperty(ctx, tx, ns, &pr)
	})
	if err != nil {
		return nil, err
	}
	return &pr, nil
}

// GetProperty returns one property definition. With resourceType, the
// name may carry that resource type's prefix (hw_foo for foo), as Glance
// accepts it.
func (s *Service) GetProperty(ctx context.Context, p *authn.Principal, nsName, name, resourceType string) (*MetadefProperty, error) {
	ns, err := s.namespaceFor(ctx, s.db, p, nsName, "get_metadef_property")
	if err != nil {
		return nil, err
	}
	if resourceType != "" {
		as, err := listAssociations(ctx, s.db, ns)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			if a.Name == resourceType && a.Prefix != "" {
				if !strings.HasPrefix(name, a.Prefix) {
					return nil, fault.NotFoundf("Property %s does not start with the expected resource type association prefix of '%s'.", name, a.Prefix)
				}
				name = strings.TrimPrefix(name, a.Prefix)
			}
		}
	}
	return getProperty(ctx, s.db, ns, name)
}

// UpdateProperty replaces a property definition (and may rename it).
func (s *Service) UpdateProperty(ctx context.Context, p *authn.Principal, nsName, name string, pr MetadefProperty) (*MetadefProperty, error) {
	if err := checkProperty(&pr); err != nil {
		return nil, err
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "modify_metadef_property")
		if err != nil {
			return err
		}
		old, err := getProperty(ctx, tx, ns, name)
		if err != nil {
			return err
		}
		pr.CreatedAt, pr.UpdatedAt = old.CreatedAt, s.metadefNow()
		js, _ := json.Marshal(pr.Schema)
		_, err = tx.ExecContext(ctx, `UPDATE metadef_properties SET name = $3, json_schema = $4, updated_at = $5
			WHERE namespace_id = $1 AND name = $2`, ns.ID, name, pr.Name, string(js), pr.UpdatedAt.UnixMicro())
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("A metadata definition property with name=%s already exists in namespace=%s.", pr.Name, ns.Namespace)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pr, nil
}

// DeleteProperty removes a property definition from an unprotected namespace.
func (s *Service) DeleteProperty(ctx context.Context, p *authn.Principal, nsName, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "remove_metadef_property")
		if err != nil {
			return err
		}
		if _, err := getProperty(ctx, tx, ns, name); err != nil {
			return err
		}
		if ns.Protected {
			return protectedNamespace(ns, "its properties")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM metadef_properties WHERE namespace_id = $1 AND name = $2`, ns.ID, name)
		return err
	})
}

// Tags.

func tagNotFound(ns *Namespace, name string) error {
	return fault.NotFoundf("Metadata tag with name=%s was not found in namespace=%s.", name, ns.Namespace)
}

// MetadefListTags lists a namespace's tags by name.
func (s *Service) MetadefListTags(ctx context.Context, p *authn.Principal, nsName string) ([]MetadefTag, error) {
	ns, err := s.namespaceFor(ctx, s.db, p, nsName, "get_metadef_tags")
	if err != nil {
		return nil, err
	}
	return listTags(ctx, s.db, ns)
}

// MetadefCreateTag adds one tag.
func (s *Service) MetadefCreateTag(ctx context.Context, p *authn.Principal, nsName, name string) (*MetadefTag, error) {
	if err := checkName("Tag", name, 255); err != nil {
		return nil, err
	}
	tag := &MetadefTag{Name: name}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "add_metadef_tag")
		if err != nil {
			return err
		}
		tag.CreatedAt = s.metadefNow()
		tag.UpdatedAt = tag.CreatedAt
		return insertTag(ctx, tx, ns, tag)
	})
	if err != nil {
		return nil, err
	}
	return tag, nil
}

// MetadefCreateTags sets a namespace's tags to names, or adds names to them when
// appending; a name given twice, or (appending) one that exists, is 409.
func (s *Service) MetadefCreateTags(ctx context.Context, p *authn.Principal, nsName string, names []string, appending bool) ([]MetadefTag, error) {
	seen := map[string]bool{}
	for _, n := range names {
		if err := checkName("Tag", n, 255); err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fault.Conflictf("A metadata tag with name=%s already exists in namespace=%s.", n, nsName)
		}
		seen[n] = true
	}
	var out []MetadefTag
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "add_metadef_tags")
		if err != nil {
			return err
		}
		if !appending {
			if _, err := tx.ExecContext(ctx, `DELETE FROM metadef_tags WHERE namespace_id = $1`, ns.ID); err != nil {
				return err
			}
		}
		now := s.metadefNow()
		for _, n := range names {
			tag := MetadefTag{Name: n, CreatedAt: now, UpdatedAt: now}
			if err := insertTag(ctx, tx, ns, &tag); err != nil {
				return err
			}
			out = append(out, tag)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MetadefGetTag returns one tag.
func (s *Service) MetadefGetTag(ctx context.Context, p *authn.Principal, nsName, name string) (*MetadefTag, error) {
	ns, err := s.namespaceFor(ctx, s.db, p, nsName, "get_metadef_tag")
	if err != nil {
		return nil, err
	}
	return getTag(ctx, s.db, ns, name)
}

// MetadefUpdateTag renames a tag.
func (s *Service) MetadefUpdateTag(ctx context.Context, p *authn.Principal, nsName, name, newName string) (*MetadefTag, error) {
	if err := checkName("Tag", newName, 255); err != nil {
		return nil, err
	}
	var tag *MetadefTag
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "modify_metadef_tag")
		if err != nil {
			return err
		}
		if tag, err = getTag(ctx, tx, ns, name); err != nil {
			return err
		}
		tag.Name, tag.UpdatedAt = newName, s.metadefNow()
		_, err = tx.ExecContext(ctx, `UPDATE metadef_tags SET name = $3, updated_at = $4
			WHERE namespace_id = $1 AND name = $2`, ns.ID, name, newName, tag.UpdatedAt.UnixMicro())
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("A metadata tag with name=%s already exists in namespace=%s.", newName, ns.Namespace)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return tag, nil
}

// MetadefDeleteTag removes one tag from an unprotected namespace.
func (s *Service) MetadefDeleteTag(ctx context.Context, p *authn.Principal, nsName, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "delete_metadef_tag")
		if err != nil {
			return err
		}
		if _, err := getTag(ctx, tx, ns, name); err != nil {
			return err
		}
		if ns.Protected {
			return protectedNamespace(ns, "its tags")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM metadef_tags WHERE namespace_id = $1 AND name = $2`, ns.ID, name)
		return err
	})
}

// MetadefDeleteTags removes all tags of an unprotected namespace.
func (s *Service) MetadefDeleteTags(ctx context.Context, p *authn.Principal, nsName string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "delete_metadef_tags")
		if err != nil {
			return err
		}
		if ns.Protected {
			return protectedNamespace(ns, "its tags")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM metadef_tags WHERE namespace_id = $1`, ns.ID)
		return err
	})
}

// Resource types.

// ListResourceTypes lists the known resource types, seeded ones first.
func (s *Service) ListResourceTypes(ctx context.Context, p *authn.Principal) ([]ResourceType, error) {
	if err := s.authorizeMetadef(p, "list_metadef_resource_types", nil); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, protected, created_at, updated_at FROM metadef_resource_types
		ORDER BY created_at, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ResourceType
	for rows.Next() {
		var rt ResourceType
		var c, u int64
		if err := rows.Scan(&rt.Name, &rt.Protected, &c, &u); err != nil {
			return nil, err
		}
		rt.CreatedAt, rt.UpdatedAt = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
		out = append(out, rt)
	}
	return out, rows.Err()
}

// ListAssociations lists a namespace's resource type associations.
func (s *Service) ListAssociations(ctx context.Context, p *authn.Principal, nsName string) ([]ResourceTypeAssociation, error) {
	ns, err := s.namespaceFor(ctx, s.db, p, nsName, "get_metadef_resource_type")
	if err != nil {
		return nil, err
	}
	return listAssociations(ctx, s.db, ns)
}

// CreateAssociation associates a namespace with a resource type, which
// is created if unknown, as Glance does.
func (s *Service) CreateAssociation(ctx context.Context, p *authn.Principal, nsName string, a ResourceTypeAssociation) (*ResourceTypeAssociation, error) {
	if err := checkName("Resource type", a.Name, 80); err != nil {
		return nil, err
	}
	if len(a.Prefix) > 80 || len(a.PropertiesTarget) > 80 {
		return nil, fault.BadRequestf("prefix and properties_target are limited to 80 characters.")
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "add_metadef_resource_type_association")
		if err != nil {
			return err
		}
		a.CreatedAt = s.metadefNow()
		a.UpdatedAt = a.CreatedAt
		return insertAssociation(ctx, tx, ns, &a)
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteAssociation removes an association from an unprotected namespace.
func (s *Service) DeleteAssociation(ctx context.Context, p *authn.Principal, nsName, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, nsName, "remove_metadef_resource_type_association")
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM metadef_namespace_resource_types
			WHERE namespace_id = $1 AND resource_type = $2`, ns.ID, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fault.NotFoundf("Metadata definition resource-type-association with resource-type=%s not found in namespace=%s.", name, ns.Namespace)
		}
		if ns.Protected {
			return protectedNamespace(ns, "its resource type associations")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM metadef_namespace_resource_types
			WHERE namespace_id = $1 AND resource_type = $2`, ns.ID, name)
		return err
	})
}
