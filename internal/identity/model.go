package identity

import "time"

// DefaultDomainID is Keystone's id of the domain every cloud starts with.
const DefaultDomainID = "default"

// Domain is a container of projects, users and groups.
type Domain struct {
	ID, Name, Description string
	Enabled               bool
	Extra                 map[string]any
}

// Project owns resources; ParentID builds the hierarchy ("" at the top,
// where Keystone shows the domain id as parent).
type Project struct {
	ID, Name, DomainID, ParentID, Description string
	Enabled                                   bool
	IsDomain                                  bool // a domain shown as a project; DomainID and ParentID are ""
	Tags                                      []string
	Extra                                     map[string]any
}

// User is a person or service account.
type User struct {
	ID, Name, DomainID, DefaultProjectID string
	Enabled                              bool
	PasswordExpiresAt                    *time.Time
	PasswordCreatedAt                    *time.Time
	Options                              map[string]any
	Extra                                map[string]any // email, description and anything else
	FailedAuthCount                      int
	LastFailedAuthAt                     *time.Time
	CreatedAt                            time.Time
	readOnly                             bool // from a read-only backend such as LDAP
}

// Group gathers users for role assignment.
type Group struct {
	ID, Name, DomainID, Description string
	Extra                           map[string]any
}

// Role is a named set of permissions; DomainID "" makes it global.
type Role struct {
	ID, Name, DomainID, Description string
	Options                         map[string]any
	Extra                           map[string]any
}

// Assignment types, as Keystone names them.
const (
	UserProject  = "UserProject"
	GroupProject = "GroupProject"
	UserDomain   = "UserDomain"
	GroupDomain  = "GroupDomain"
	UserSystem   = "UserSystem"
	GroupSystem  = "GroupSystem"
)

// SystemTarget is the target id of system assignments.
const SystemTarget = "all"

// Assignment grants a role to a user or group on a project, domain or the
// system. Inherited assignments apply to the target's subtree instead.
type Assignment struct {
	Type, ActorID, TargetID, RoleID string
	Inherited                       bool
}

// Region groups endpoints.
type Region struct {
	ID, Description, ParentRegionID string
	Extra                           map[string]any
}

// CatalogService is an entry of the service catalog.
type CatalogService struct {
	ID, Type, Name, Description string
	Enabled                     bool
	Extra                       map[string]any
}

// Endpoint is a URL of a service on one interface in one region.
type Endpoint struct {
	ID, ServiceID, Interface, URL, RegionID string
	Enabled                                 bool
	Extra                                   map[string]any
}

// Credential is a secret a user keeps in identity, e.g. EC2 keys.
type Credential struct {
	ID, UserID, ProjectID, Type, Blob string
	Extra                             map[string]any
}

// AppCred is an application credential: a secret that authenticates as its
// user on one project with a subset of the user's roles.
type AppCred struct {
	ID, Name, UserID, ProjectID, Description string
	SecretHash                               string
	ExpiresAt                                *time.Time
	Unrestricted                             bool
	RoleIDs                                  []string
	AccessRules                              []AccessRule
}

// AccessRule limits what an application credential may call.
type AccessRule struct {
	ID, Service, Path, Method, UserID string
}

// Policy is a stored policy blob (the deprecated /v3/policies API).
type Policy struct {
	ID, Type, Blob string
	Extra          map[string]any
}

// RevocationEvent revokes every token matching all its non-empty fields
// issued at or before IssuedBefore.
type RevocationEvent struct {
	UserID, ProjectID, DomainID, RoleID, AuditID, AuditChainID string
	IssuedBefore, RevokedAt                                    time.Time
}
