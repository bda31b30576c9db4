package compute

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// maxInt is the largest value Nova's integer columns hold (db MAX_INT).
const maxInt = 0x7FFFFFFF

// maxFloat is the largest rxtx_factor (db SQL_SP_FLOAT_MAX).
const maxFloat = 3.40282e+38

func flavorNotFound(id string) error { return fault.NotFoundf("Flavor %s could not be found.", id) }

// CreateFlavor adds a flavor (admins, by default).
func (s *Service) CreateFlavor(ctx context.Context, p *authn.Principal, spec FlavorSpec) (*Flavor, error) {
	if err := s.authorize(p, policyFlavorCreate, map[string]any{}); err != nil {
		return nil, err
	}
	return s.createFlavor(ctx, spec)
}

func (s *Service) createFlavor(ctx context.Context, spec FlavorSpec) (*Flavor, error) {
	f := &Flavor{
		FlavorID: spec.FlavorID, Name: strings.TrimSpace(spec.Name), MemoryMB: spec.MemoryMB, VCPUs: spec.VCPUs,
		RootGB: spec.RootGB, EphemeralGB: spec.EphemeralGB, SwapMB: spec.SwapMB, RXTXFactor: spec.RXTXFactor,
		IsPublic: spec.IsPublic, Description: spec.Description, CreatedAt: s.now().UTC(),
	}
	if f.FlavorID == "" {
		f.FlavorID = uuid.NewString()
	}
	if f.RXTXFactor == 0 {
		f.RXTXFactor = 1.0
	}
	for _, c := range []struct {
		name     string
		v, floor int64
	}{{"ram", f.MemoryMB, 1}, {"vcpus", f.VCPUs, 1}, {"disk", f.RootGB, 0}, {"ephemeral", f.EphemeralGB, 0}, {"swap", f.SwapMB, 0}} {
		if c.v < c.floor {
			return nil, fault.BadRequestf("Invalid input received: %s must be >= %d", c.name, c.floor)
		}
		if c.v > maxInt {
			return nil, fault.BadRequestf("Invalid input received: %s must be <= %d", c.name, maxInt)
		}
	}
	if f.RXTXFactor <= 0 || f.RXTXFactor > maxFloat || math.IsNaN(f.RXTXFactor) {
		return nil, fault.BadRequestf("Invalid input received: 'rxtx_factor' argument must be a float between 0 and %g", maxFloat)
	}
	if f.Name == "" {
		return nil, fault.BadRequestf("Invalid input received: name must be a non-empty string")
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		idTaken, nameTaken, err := flavorTaken(ctx, tx, f.FlavorID, f.Name)
		if err != nil {
			return err
		}
		if nameTaken {
			return fault.Conflictf("Flavor with name %s already exists.", f.Name)
		}
		if idTaken {
			return fault.Conflictf("Flavor with ID %s already exists.", f.FlavorID)
		}
		if err := insertFlavor(ctx, tx, f); err != nil {
			return err
		}
		f.ExtraSpecs = map[string]string{}
		if len(spec.ExtraSpecs) > 0 {
			if err := setExtraSpecs(ctx, tx, f.ID, spec.ExtraSpecs); err != nil {
				return err
			}
			for k, v := range spec.ExtraSpecs {
				f.ExtraSpecs[k] = v
			}
		}
		return nil
	})
	if err != nil {
		if db.IsUniqueViolation(err) {
			return nil, fault.Conflictf("Flavor with ID %s already exists.", f.FlavorID)
		}
		return nil, err
	}
	return f, nil
}

// GetFlavor returns a flavor the caller may see: admins see every flavor,
// others public ones and private ones shared with their project.
func (s *Service) GetFlavor(ctx context.Context, p *authn.Principal, id string) (*Flavor, error) {
	f, err := getFlavor(ctx, s.db, id, s.isAdmin(p), projectOf(p))
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, flavorNotFound(id)
	}
	return f, nil
}

// ListFlavors pages through the flavors the caller may see. Only admins
// choose the is_public filter; everyone else sees public flavors and the
// private ones shared with their project, never disabled ones.
func (s *Service) ListFlavors(ctx context.Context, p *authn.Principal, q FlavorQuery) ([]*Flavor, error) {
	admin := s.isAdmin(p)
	if !admin {
		t := true
		q.IsPublic = &t
	}
	if q.SortKey != "" {
		if _, ok := flavorSortColumns[q.SortKey]; !ok {
			return nil, fault.BadRequestf("Invalid input for query parameters sort_key. Value: %s.", q.SortKey)
		}
	}
	limit := s.pageLimit(q.Limit)
	out, err := listFlavors(ctx, s.db, q, admin, projectOf(p), limit)
	if errors.Is(err, errMarkerNotFound) {
		return nil, fault.BadRequestf("marker [%s] not found", q.Marker)
	}
	return out, err
}

// pageLimit is Nova's get_limit_and_marker: at most MaxLimit.
func (s *Service) pageLimit(asked int) int {
	if asked <= 0 || asked > s.cfg.MaxLimit {
		return s.cfg.MaxLimit
	}
	return asked
}

// UpdateFlavorDescription sets or clears a flavor's description (2.55).
func (s *Service) UpdateFlavorDescription(ctx context.Context, p *authn.Principal, id string, desc *string) (*Flavor, error) {
	if err := s.authorize(p, policyFlavorUpdate, map[string]any{}); err != nil {
		return nil, err
	}
	var out *Flavor
	err := s.tx(ctx, func(tx *sql.Tx) error {
		f, err := getFlavor(ctx, tx, id, s.isAdmin(p), projectOf(p))
		if err != nil {
			return err
		}
		if f == nil {
			return flavorNotFound(id)
		}
		now := s.now().UTC()
		if err := updateFlavorDescription(ctx, tx, f.ID, desc, now); err != nil {
			return err
		}
		f.Description, f.UpdatedAt = desc, now
		out = f
		return nil
	})
	return out, err
}

// DeleteFlavor removes a flavor. Servers keep a copy of their flavor, so
// deleting one in use is allowed, as in Nova.
func (s *Service) DeleteFlavor(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, policyFlavorDelete, map[string]any{}); err != nil {
		return err
	}
	ok, err := deleteFlavor(ctx, s.db, id)
	if err != nil {
		return err
	}
	if !ok {
		return flavorNotFound(id)
	}
	return nil
}

// ---- extra specs

// CanSeeExtraSpecs reports whether flavors shown to the caller carry
// their extra specs (from 2.61).
func (s *Service) CanSeeExtraSpecs(p *authn.Principal) bool {
	return s.allowed(p, policyExtraSpecsIndex, nil)
}

// ExtraSpecs returns a flavor's extra specs.
func (s *Service) ExtraSpecs(ctx context.Context, p *authn.Principal, flavorID string) (map[string]string, error) {
	if err := s.authorize(p, policyExtraSpecsIndex, map[string]any{"project_id": projectOf(p)}); err != nil {
		return nil, err
	}
	f, err := s.GetFlavor(ctx, p, flavorID)
	if err != nil {
		return nil, err
	}
	return f.ExtraSpecs, nil
}

// ExtraSpec returns one extra spec's value.
func (s *Service) ExtraSpec(ctx context.Context, p *authn.Principal, flavorID, key string) (string, error) {
	if err := s.authorize(p, policyExtraSpecsShow, map[string]any{"project_id": projectOf(p)}); err != nil {
		return "", err
	}
	f, err := s.GetFlavor(ctx, p, flavorID)
	if err != nil {
		return "", err
	}
	v, ok := f.ExtraSpecs[key]
	if !ok {
		return "", fault.NotFoundf("Flavor %s has no extra specs with key %s.", flavorID, key)
	}
	return v, nil
}

// SetExtraSpecs adds or replaces extra specs. validate checks known
// namespaces' keys and values as Nova does from 2.86; update is the
// policy of PUT on one key, else POST's.
func (s *Service) SetExtraSpecs(ctx context.Context, p *authn.Principal, flavorID string, specs map[string]string,
	validate, update bool) error {
	rule := policyExtraSpecsCreate
	if update {
		rule = policyExtraSpecsUpdate
	}
	if err := s.authorize(p, rule, map[string]any{}); err != nil {
		return err
	}
	for k, v := range specs {
		if len(v) > 255 {
			return fault.BadRequestf("Invalid input received: extra_specs value has more than 255 characters.")
		}
		if validate {
			if err := validateExtraSpec(k, v); err != nil {
				return err
			}
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		f, err := getFlavor(ctx, tx, flavorID, s.isAdmin(p), projectOf(p))
		if err != nil {
			return err
		}
		if f == nil {
			return flavorNotFound(flavorID)
		}
		return setExtraSpecs(ctx, tx, f.ID, specs)
	})
}

// DeleteExtraSpec removes one extra spec.
func (s *Service) DeleteExtraSpec(ctx context.Context, p *authn.Principal, flavorID, key string) error {
	if err := s.authorize(p, policyExtraSpecsDelete, map[string]any{}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		f, err := getFlavor(ctx, tx, flavorID, s.isAdmin(p), projectOf(p))
		if err != nil {
			return err
		}
		if f == nil {
			return flavorNotFound(flavorID)
		}
		ok, err := deleteExtraSpec(ctx, tx, f.ID, key)
		if err != nil {
			return err
		}
		if !ok {
			return fault.NotFoundf("Flavor %s has no extra specs with key %s.", flavorID, key)
		}
		return nil
	})
}

// ---- access lists

// FlavorAccess lists the projects a private flavor is shared with.
func (s *Service) FlavorAccess(ctx context.Context, p *authn.Principal, flavorID string) ([]string, error) {
	if err := s.authorize(p, policyFlavorAccess, nil); err != nil {
		return nil, err
	}
	f, err := s.GetFlavor(ctx, p, flavorID)
	if err != nil {
		return nil, err
	}
	if f.IsPublic {
		return nil, fault.NotFoundf("Access list not available for public flavors.")
	}
	return flavorProjects(ctx, s.db, f.ID)
}

// AddFlavorAccess shares a flavor with a project. refusePublic is 2.7's
// 409 for public flavors (earlier versions record the access anyway).
func (s *Service) AddFlavorAccess(ctx context.Context, p *authn.Principal, flavorID, projectID string, refusePublic bool) ([]string, error) {
	if err := s.authorize(p, policyFlavorAccessAdd, map[string]any{}); err != nil {
		return nil, err
	}
	if err := s.checkProject(ctx, projectID); err != nil {
		return nil, err
	}
	var out []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		f, err := getFlavor(ctx, tx, flavorID, s.isAdmin(p), projectOf(p))
		if err != nil {
			return err
		}
		if f == nil {
			return flavorNotFound(flavorID)
		}
		if refusePublic && f.IsPublic {
			return fault.Conflictf("Can not add access to a public flavor.")
		}
		added, err := addFlavorProject(ctx, tx, f.ID, projectID)
		if err != nil {
			return err
		}
		if !added {
			return fault.Conflictf("Flavor access already exists for flavor %s and project %s combination.", flavorID, projectID)
		}
		out, err = flavorProjects(ctx, tx, f.ID)
		return err
	})
	return out, err
}

// RemoveFlavorAccess stops sharing a flavor with a project. The project
// need not exist any more.
func (s *Service) RemoveFlavorAccess(ctx context.Context, p *authn.Principal, flavorID, projectID string) ([]string, error) {
	if err := s.authorize(p, policyFlavorAccessRemove, map[string]any{}); err != nil {
		return nil, err
	}
	var out []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		f, err := getFlavor(ctx, tx, flavorID, s.isAdmin(p), projectOf(p))
		if err != nil {
			return err
		}
		if f == nil {
			return flavorNotFound(flavorID)
		}
		removed, err := removeFlavorProject(ctx, tx, f.ID, projectID)
		if err != nil {
			return err
		}
		if !removed {
			return fault.NotFoundf("Flavor access not found for %s / %s combination.", flavorID, projectID)
		}
		out, err = flavorProjects(ctx, tx, f.ID)
		return err
	})
	return out, err
}

// ---- defaults

// defaultFlavors are devstack's flavors, with its ids.
var defaultFlavors = []FlavorSpec{
	{FlavorID: "42", Name: "m1.nano", MemoryMB: 64, VCPUs: 1, RootGB: 1},
	{FlavorID: "84", Name: "m1.micro", MemoryMB: 128, VCPUs: 1, RootGB: 1},
	{FlavorID: "1", Name: "m1.tiny", MemoryMB: 512, VCPUs: 1, RootGB: 1},
	{FlavorID: "2", Name: "m1.small", MemoryMB: 2048, VCPUs: 1, RootGB: 20},
	{FlavorID: "3", Name: "m1.medium", MemoryMB: 4096, VCPUs: 2, RootGB: 40},
	{FlavorID: "4", Name: "m1.large", MemoryMB: 8192, VCPUs: 4, RootGB: 80},
	{FlavorID: "5", Name: "m1.xlarge", MemoryMB: 16384, VCPUs: 8, RootGB: 160},
}

// EnsureDefaultFlavors creates devstack's public flavors m1.nano (id 42),
// m1.micro (84) and m1.tiny..m1.xlarge (1..5) when the cloud has no
// flavor at all, so a new cloud can boot servers at once. An operator who
// deleted or replaced them is left alone.
func (s *Service) EnsureDefaultFlavors(ctx context.Context) error {
	n, err := countFlavors(ctx, s.db)
	if err != nil || n > 0 {
		return err
	}
	for _, spec := range defaultFlavors {
		spec.IsPublic = true
		if _, err := s.createFlavor(ctx, spec); err != nil && !fault.Is(err, fault.Conflict) {
			return err
		}
	}
	return nil
}

func projectOf(p *authn.Principal) string {
	if p == nil {
		return ""
	}
	return p.ProjectID
}

// pyFloat formats a float as Python's str() does.
func pyFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
