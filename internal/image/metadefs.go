package image

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/policy"
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

// metadefRules are Glance's metadef policy names with their defaults:
// admins write, readers read. An operator's policy file may override each.
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

// metadefDefaults are metadefRules as policy defaults.
func metadefDefaults() []policy.Default {
	var out []policy.Default
	for name, base := range metadefRules {
		out = append(out, policy.Default{Name: name, Check: "rule:" + base})
	}
	return out
}

// authorizeMetadef checks a metadef rule against a namespace.
func (s *Service) authorizeMetadef(p *authn.Principal, rule string, ns *Namespace) error {
	name := rule
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
