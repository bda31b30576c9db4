package identity

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Projects acting as domains. Keystone stores a domain as a project with
// is_domain=true, so /v3/projects can create, show, list, update and
// delete domains. Nimbus keeps domains in their own table and maps those
// calls onto it: the "project" and the domain are one entity with one id.
//
// Policy: besides Keystone's identity:create_project on create, each call
// checks the matching domain rule (identity:create_domain, get_domain,
// list_domains, update_domain, delete_domain), so /v3/projects never lets
// anyone do to a domain what /v3/domains would refuse them.

// domainProject is a domain in project form.
func domainProject(d *Domain) *Project {
	return &Project{ID: d.ID, Name: d.Name, Description: d.Description, Enabled: d.Enabled,
		IsDomain: true, Tags: []string{}, Extra: d.Extra}
}

// domainActingAsProject returns the domain with this id when looking it up
// as a project failed with NotFound, or nil.
func (s *Service) domainActingAsProject(ctx context.Context, err error, id string) *Domain {
	if !fault.Is(err, fault.NotFound) {
		return nil
	}
	d, derr := getDomain(ctx, s.db, id)
	if derr != nil {
		return nil
	}
	return d
}

// createDomainAsProject serves POST /v3/projects with is_domain=true.
func (s *Service) createDomainAsProject(ctx context.Context, p *authn.Principal, proj Project) (*Project, error) {
	if err := s.authorize(p, "identity:create_project", map[string]any{"project": map[string]any{"name": proj.Name, "is_domain": true}}); err != nil {
		return nil, err
	}
	if proj.DomainID != "" || proj.ParentID != "" {
		// Keystone makes parent_id the domain_id given, then refuses it.
		return nil, fault.BadRequestf("only root projects are allowed to act as domains.")
	}
	if len(proj.Tags) > 0 {
		return nil, fault.BadRequestf("Tags are not supported on projects acting as domains.")
	}
	d, err := s.CreateDomain(ctx, p, Domain{ID: proj.ID, Name: proj.Name, Description: proj.Description,
		Enabled: proj.Enabled, Extra: proj.Extra})
	if err != nil {
		return nil, err
	}
	return domainProject(d), nil
}

// getDomainAsProject serves GET /v3/projects/{id} for a domain.
func (s *Service) getDomainAsProject(ctx context.Context, p *authn.Principal, d *Domain) (*Project, error) {
	d, err := s.GetDomain(ctx, p, d.ID)
	if err != nil {
		return nil, err
	}
	return domainProject(d), nil
}

// listDomainsAsProjects serves GET /v3/projects?is_domain=true.
func (s *Service) listDomainsAsProjects(ctx context.Context, p *authn.Principal, f ProjectFilter) ([]Project, error) {
	ds, err := s.ListDomains(ctx, p, DomainFilter{Name: f.Name, Enabled: f.Enabled})
	if err != nil {
		return nil, err
	}
	out := []Project{}
	if f.DomainID != "" || f.ParentID != "" {
		return out, nil // a project acting as a domain has neither
	}
	for i := range ds {
		dp := domainProject(&ds[i])
		if tagsMatch(dp.Tags, f) {
			out = append(out, *dp)
		}
	}
	return out, nil
}

// updateDomainAsProject serves PATCH /v3/projects/{id} for a domain.
func (s *Service) updateDomainAsProject(ctx context.Context, p *authn.Principal, id string, patch ProjectPatch) (*Project, error) {
	if patch.IsDomain != nil && !*patch.IsDomain {
		return nil, fault.BadRequestf("Update of `is_domain` is not allowed.")
	}
	if patch.DomainID != nil && *patch.DomainID != "" {
		return nil, fault.BadRequestf("Update of `domain_id` is not allowed.")
	}
	if patch.ParentID != nil && *patch.ParentID != "" {
		return nil, fault.Forbiddenf("Update of `parent_id` is not allowed.")
	}
	if patch.Tags != nil && len(*patch.Tags) > 0 {
		return nil, fault.BadRequestf("Tags are not supported on projects acting as domains.")
	}
	d, err := s.UpdateDomain(ctx, p, id, DomainPatch{Name: patch.Name, Description: patch.Description,
		Enabled: patch.Enabled, Extra: patch.Extra})
	if err != nil {
		return nil, err
	}
	return domainProject(d), nil
}
