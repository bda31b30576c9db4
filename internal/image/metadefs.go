package image

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// The metadata definitions catalog (Glance's /v2/metadefs): namespaces of
// property, object and tag definitions that other services' UIs offer
// when people set metadata on images, volumes, flavors and the like.

// Namespace is a metadefs namespace; the children are filled by
// GetNamespace only (and by create, from what was given).
type Namespace struct {
	ID                                              string // internal; children refer to it
	Namespace, DisplayName, Description, Visibility string
	Owner                                           string
	Protected                                       bool
	CreatedAt, UpdatedAt                            time.Time
	Associations                                    []ResourceTypeAssociation
	Properties                                      []MetadefProperty
	Objects                                         []MetadefObject
	Tags                                            []MetadefTag
}

// MetadefObject is a named group of property definitions.
type MetadefObject struct {
	Name, Description    string
	Required             []string
	Properties           map[string]PropertySchema
	CreatedAt, UpdatedAt time.Time
}

// PropertySchema is a property definition's JSON-schema fields (title,
// type, enum, default, minimum...), kept as the JSON the caller sent.
type PropertySchema map[string]json.RawMessage

// MetadefProperty is a named property definition of a namespace.
type MetadefProperty struct {
	Name                 string
	Schema               PropertySchema
	CreatedAt, UpdatedAt time.Time
}

// MetadefTag is a tag definition.
type MetadefTag struct {
	Name                 string
	CreatedAt, UpdatedAt time.Time
}

// ResourceType is a kind of resource metadata applies to (OS::Glance::Image).
type ResourceType struct {
	Name                 string
	Protected            bool
	CreatedAt, UpdatedAt time.Time
}

// ResourceTypeAssociation says a namespace applies to a resource type,
// with the prefix its properties take there.
type ResourceTypeAssociation struct {
	Name, Prefix, PropertiesTarget string
	CreatedAt, UpdatedAt           time.Time
}

// NamespaceArgs is a namespace create or (full replace) update.
type NamespaceArgs struct {
	Namespace                string
	DisplayName, Description string
	Visibility, Owner        string // "" = private, the caller's project
	Protected                bool
	Associations             []ResourceTypeAssociation // create only
	Properties               []MetadefProperty         // create only
	Objects                  []MetadefObject           // create only
	Tags                     []string                  // create only
}

// NamespaceQuery filters and pages a namespace list.
type NamespaceQuery struct {
	Visibility       string
	ResourceTypes    []string
	Limit            int
	Marker           string
	SortKey, SortDir string
}

// metadefRules map Glance's metadef policy names to the rule that decides
// them unless the operator's policy file names them: Glance's defaults let
// admins write and anyone with a role read.
var metadefRules = map[string]string{
	"get_metadef_namespace": "get_images", "get_metadef_namespaces": "get_images",
	"add_metadef_namespace": "context_is_admin", "modify_metadef_namespace": "context_is_admin",
	"delete_metadef_namespace": "context_is_admin",
	"get_metadef_object":       "get_images", "get_metadef_objects": "get_images",
	"add_metadef_object": "context_is_admin", "modify_metadef_object": "context_is_admin",
	"delete_metadef_object": "context_is_admin",
	"get_metadef_property":  "get_images", "get_metadef_properties": "get_images",
	"add_metadef_property": "context_is_admin", "modify_metadef_property": "context_is_admin",
	"remove_metadef_property": "context_is_admin",
	"get_metadef_tag":         "get_images", "get_metadef_tags": "get_images",
	"add_metadef_tag": "context_is_admin", "add_metadef_tags": "context_is_admin",
	"modify_metadef_tag": "context_is_admin", "delete_metadef_tag": "context_is_admin",
	"delete_metadef_tags":                      "context_is_admin",
	"list_metadef_resource_types":              "get_images",
	"get_metadef_resource_type":                "get_images",
	"add_metadef_resource_type_association":    "context_is_admin",
	"remove_metadef_resource_type_association": "context_is_admin",
}

// authorizeMetadef checks a metadef rule: the operator's, if the policy
// file defines it, else the rule it falls back to.
func (s *Service) authorizeMetadef(p *authn.Principal, rule string, ns *Namespace) error {
	name := rule
	if _, ok := s.policy.Rules()[rule]; !ok {
		name = metadefRules[rule]
	}
	t := map[string]any{}
	if ns != nil {
		t = map[string]any{"owner": ns.Owner, "visibility": ns.Visibility, "namespace": ns.Namespace}
	}
	if err := s.authorize(p, name, t); err != nil {
		return fault.Forbiddenf("You are not authorized to complete %s action.", rule)
	}
	return nil
}

func namespaceNotFound(name string) error {
	return fault.NotFoundf("Metadata definition namespace=%s was not found.", name)
}

// visibleNamespace loads a namespace the caller may see: public ones,
// its project's private ones, all for admins. Others are 404, as in Glance.
func (s *Service) visibleNamespace(ctx context.Context, q queryer, p *authn.Principal, name string) (*Namespace, error) {
	if p == nil {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	ns, err := getNamespace(ctx, q, name)
	if err != nil {
		return nil, err
	}
	if ns.Visibility != Public && ns.Owner != p.ProjectID && !isAdmin(s, p) {
		return nil, namespaceNotFound(name)
	}
	return ns, nil
}

// namespaceFor loads the namespace of a child operation and checks rule.
func (s *Service) namespaceFor(ctx context.Context, q queryer, p *authn.Principal, name, rule string) (*Namespace, error) {
	ns, err := s.visibleNamespace(ctx, q, p, name)
	if err != nil {
		return nil, err
	}
	return ns, s.authorizeMetadef(p, rule, ns)
}

func (s *Service) metadefNow() time.Time { return s.now().UTC().Truncate(time.Second) }

func checkName(what, name string, max int) error {
	if strings.TrimSpace(name) == "" {
		return fault.BadRequestf("%s name must not be empty.", what)
	}
	if len([]rune(name)) > max {
		return fault.BadRequestf("%s name %q is longer than %d characters.", what, name, max)
	}
	if strings.Contains(name, "/") {
		return fault.BadRequestf("%s name %q must not contain '/'.", what, name)
	}
	return nil
}

var propertyTypes = []string{"array", "boolean", "integer", "number", "object", "string", "null"}

// checkPropertySchema validates a property definition's fields against
// Glance's property schema: known keys only, a valid type, and (for
// namespace properties) a title and type.
func checkPropertySchema(name string, ps PropertySchema, full bool) error {
	for k := range ps {
		if _, ok := metadefPropertyProps[k]; !ok || k == "name" {
			return fault.BadRequestf("Invalid property definition %s: additional property %q is not allowed.", name, k)
		}
	}
	if full {
		for _, k := range []string{"title", "type"} {
			if _, ok := ps[k]; !ok {
				return fault.BadRequestf("Invalid property definition %s: %q is a required property.", name, k)
			}
		}
	}
	if raw, ok := ps["type"]; ok {
		var t *string
		if err := json.Unmarshal(raw, &t); err != nil || (t != nil && !slices.Contains(propertyTypes, *t)) {
			return fault.BadRequestf("Invalid property definition %s: type must be one of %s.", name, strings.Join(propertyTypes, ", "))
		}
	}
	for _, k := range []string{"title", "description", "pattern"} {
		if raw, ok := ps[k]; ok {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return fault.BadRequestf("Invalid property definition %s: %s must be a string.", name, k)
			}
		}
	}
	for _, k := range []string{"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"} {
		if raw, ok := ps[k]; ok {
			var v float64
			if err := json.Unmarshal(raw, &v); err != nil {
				return fault.BadRequestf("Invalid property definition %s: %s must be a number.", name, k)
			}
		}
	}
	for _, k := range []string{"enum", "operators"} {
		if raw, ok := ps[k]; ok {
			var v []any
			if err := json.Unmarshal(raw, &v); err != nil {
				return fault.BadRequestf("Invalid property definition %s: %s must be an array.", name, k)
			}
		}
	}
	return nil
}

func checkObject(o *MetadefObject) error {
	if err := checkName("Object", o.Name, 80); err != nil {
		return err
	}
	for name, ps := range o.Properties {
		if err := checkPropertySchema(name, ps, false); err != nil {
			return err
		}
	}
	return nil
}

func checkProperty(pr *MetadefProperty) error {
	if err := checkName("Property", pr.Name, 80); err != nil {
		return err
	}
	return checkPropertySchema(pr.Name, pr.Schema, true)
}

func (s *Service) checkNamespaceArgs(p *authn.Principal, a *NamespaceArgs) error {
	if err := checkName("Namespace", a.Namespace, 80); err != nil {
		return err
	}
	if len([]rune(a.DisplayName)) > 80 {
		return fault.BadRequestf("display_name is longer than 80 characters.")
	}
	if len([]rune(a.Description)) > 500 {
		return fault.BadRequestf("description is longer than 500 characters.")
	}
	switch a.Visibility {
	case "":
		a.Visibility = Private
	case Public, Private:
	default:
		return fault.BadRequestf("Invalid visibility %q: must be public or private.", a.Visibility)
	}
	if a.Owner == "" {
		a.Owner = p.ProjectID
	}
	if a.Owner != p.ProjectID && !isAdmin(s, p) {
		return fault.Forbiddenf("You are not permitted to create a namespace owned by '%s'.", a.Owner)
	}
	return nil
}

// CreateNamespace records a namespace with the definitions given with it.
func (s *Service) CreateNamespace(ctx context.Context, p *authn.Principal, a NamespaceArgs) (*Namespace, error) {
	if p == nil {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	if err := s.checkNamespaceArgs(p, &a); err != nil {
		return nil, err
	}
	now := s.metadefNow()
	ns := &Namespace{ID: uuid.NewString(), Namespace: a.Namespace, DisplayName: a.DisplayName,
		Description: a.Description, Visibility: a.Visibility, Owner: a.Owner, Protected: a.Protected,
		CreatedAt: now, UpdatedAt: now}
	if err := s.authorizeMetadef(p, "add_metadef_namespace", ns); err != nil {
		return nil, err
	}
	for i := range a.Objects {
		if err := checkObject(&a.Objects[i]); err != nil {
			return nil, err
		}
	}
	for i := range a.Properties {
		if err := checkProperty(&a.Properties[i]); err != nil {
			return nil, err
		}
	}
	for _, t := range a.Tags {
		if err := checkName("Tag", t, 255); err != nil {
			return nil, err
		}
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := insertNamespace(ctx, tx, ns); err != nil {
			return err
		}
		for _, as := range a.Associations {
			as.CreatedAt, as.UpdatedAt = now, now
			if err := insertAssociation(ctx, tx, ns, &as); err != nil {
				return err
			}
			ns.Associations = append(ns.Associations, as)
		}
		for _, pr := range a.Properties {
			pr.CreatedAt, pr.UpdatedAt = now, now
			if err := insertProperty(ctx, tx, ns, &pr); err != nil {
				return err
			}
			ns.Properties = append(ns.Properties, pr)
		}
		for _, o := range a.Objects {
			o.CreatedAt, o.UpdatedAt = now, now
			if err := insertObject(ctx, tx, ns, &o); err != nil {
				return err
			}
			ns.Objects = append(ns.Objects, o)
		}
		for _, t := range a.Tags {
			tag := MetadefTag{Name: t, CreatedAt: now, UpdatedAt: now}
			if err := insertTag(ctx, tx, ns, &tag); err != nil {
				return err
			}
			ns.Tags = append(ns.Tags, tag)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ns, nil
}

// GetNamespace returns a namespace with all its definitions.
func (s *Service) GetNamespace(ctx context.Context, p *authn.Principal, name string) (*Namespace, error) {
	ns, err := s.namespaceFor(ctx, s.db, p, name, "get_metadef_namespace")
	if err != nil {
		return nil, err
	}
	if ns.Associations, err = listAssociations(ctx, s.db, ns); err != nil {
		return nil, err
	}
	if ns.Properties, err = listProperties(ctx, s.db, ns); err != nil {
		return nil, err
	}
	if ns.Objects, err = listObjects(ctx, s.db, ns); err != nil {
		return nil, err
	}
	if ns.Tags, err = listTags(ctx, s.db, ns); err != nil {
		return nil, err
	}
	return ns, nil
}

var namespaceSortKeys = map[string]string{
	"created_at": "created_at", "updated_at": "updated_at", "namespace": "namespace",
	"display_name": "display_name", "visibility": "visibility", "protected": "protected", "owner": "owner",
}

// ListNamespaces lists the namespaces the caller may see, with their
// resource type associations; more says whether a next page exists.
func (s *Service) ListNamespaces(ctx context.Context, p *authn.Principal, q NamespaceQuery) ([]*Namespace, bool, error) {
	if err := s.authorizeMetadef(p, "get_metadef_namespaces", nil); err != nil {
		return nil, false, err
	}
	if q.Visibility != "" && q.Visibility != Public && q.Visibility != Private {
		return nil, false, fault.BadRequestf("Invalid visibility value: %s", q.Visibility)
	}
	if q.SortKey == "" {
		q.SortKey = "created_at"
	}
	col, ok := namespaceSortKeys[q.SortKey]
	if !ok {
		return nil, false, fault.BadRequestf("Invalid sort key: %s.", q.SortKey)
	}
	dir := "DESC"
	switch q.SortDir {
	case "", "desc":
	case "asc":
		dir = "ASC"
	default:
		return nil, false, fault.BadRequestf("Invalid sort direction: %s", q.SortDir)
	}
	if q.Limit <= 0 || q.Limit > s.cfg.MaxListLimit {
		q.Limit = s.cfg.MaxListLimit
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if !isAdmin(s, p) {
		where = append(where, "(visibility = 'public' OR owner = "+arg(p.ProjectID)+")")
	}
	if q.Visibility != "" {
		where = append(where, "visibility = "+arg(q.Visibility))
	}
	if len(q.ResourceTypes) > 0 {
		var in []string
		for _, rt := range q.ResourceTypes {
			in = append(in, arg(rt))
		}
		where = append(where, "id IN (SELECT namespace_id FROM metadef_namespace_resource_types WHERE resource_type IN ("+strings.Join(in, ", ")+"))")
	}
	if q.Marker != "" {
		m, err := s.visibleNamespace(ctx, s.db, p, q.Marker)
		if err != nil {
			return nil, false, fault.BadRequestf("Invalid marker. Namespace %s could not be found.", q.Marker)
		}
		op := "<"
		if dir == "ASC" {
			op = ">"
		}
		var mv any
		switch col {
		case "created_at":
			mv = m.CreatedAt.UnixMicro()
		case "updated_at":
			mv = m.UpdatedAt.UnixMicro()
		case "namespace":
			mv = m.Namespace
		case "display_name":
			mv = m.DisplayName
		case "visibility":
			mv = m.Visibility
		case "protected":
			mv = m.Protected
		case "owner":
			mv = m.Owner
		}
		a, b := arg(mv), arg(m.Namespace)
		where = append(where, "("+col+" "+op+" "+a+" OR ("+col+" = "+a+" AND namespace "+op+" "+b+"))")
	}
	query := `SELECT ` + namespaceColumns + ` FROM metadef_namespaces`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY " + col + " " + dir + ", namespace " + dir + " LIMIT " + arg(q.Limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, false, err
	}
	var out []*Namespace
	for rows.Next() {
		ns, err := scanNamespace(rows)
		if err != nil {
			rows.Close()
			return nil, false, err
		}
		out = append(out, ns)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > q.Limit
	if more {
		out = out[:q.Limit]
	}
	for _, ns := range out {
		if ns.Associations, err = listAssociations(ctx, s.db, ns); err != nil {
			return nil, false, err
		}
	}
	return out, more, nil
}

// UpdateNamespace replaces a namespace's own fields (not its definitions);
// fields left out take their create defaults, as in Glance.
func (s *Service) UpdateNamespace(ctx context.Context, p *authn.Principal, name string, a NamespaceArgs) (*Namespace, error) {
	var ns *Namespace
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		ns, err = s.namespaceFor(ctx, tx, p, name, "modify_metadef_namespace")
		if err != nil {
			return err
		}
		if err := s.checkNamespaceArgs(p, &a); err != nil {
			return err
		}
		ns.Namespace, ns.DisplayName, ns.Description = a.Namespace, a.DisplayName, a.Description
		ns.Visibility, ns.Owner, ns.Protected = a.Visibility, a.Owner, a.Protected
		ns.UpdatedAt = s.metadefNow()
		_, err = tx.ExecContext(ctx, `UPDATE metadef_namespaces SET namespace = $2, display_name = $3,
			description = $4, visibility = $5, protected = $6, owner = $7, updated_at = $8 WHERE id = $1`,
			ns.ID, ns.Namespace, ns.DisplayName, ns.Description, ns.Visibility, ns.Protected, ns.Owner,
			ns.UpdatedAt.UnixMicro())
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Metadata definition namespace=%s already exists.", ns.Namespace)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return ns, nil
}

func protectedNamespace(ns *Namespace, what string) error {
	return fault.Forbiddenf("Namespace %s is protected and %s cannot be deleted.", ns.Namespace, what)
}

// DeleteNamespace deletes a namespace and everything in it.
func (s *Service) DeleteNamespace(ctx context.Context, p *authn.Principal, name string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		ns, err := s.namespaceFor(ctx, tx, p, name, "delete_metadef_namespace")
		if err != nil {
			return err
		}
		if ns.Protected {
			return fault.Forbiddenf("Namespace %s is protected and cannot be deleted.", ns.Namespace)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM metadef_namespaces WHERE id = $1`, ns.ID)
		return err
	})
}

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

// Storage.

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
	d := json.NewDecoder(bytes.NewReader([]byte(js)))
	if err := d.Decode(&pr.Schema); err != nil {
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
