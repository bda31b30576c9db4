package image

import (
	"context"
	"database/sql"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// ownedShared loads an image the caller may share: its owner (or admin),
// and visibility shared.
func (s *Service) sharedImage(ctx context.Context, p *authn.Principal, id, rule string) (*Image, error) {
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, rule, target(img)); err != nil {
		return nil, err
	}
	if img.Owner != p.ProjectID && !isAdmin(s, p) {
		return nil, fault.Forbiddenf("You are not permitted to modify the members of image %s.", id)
	}
	if img.Visibility != Shared {
		return nil, fault.Forbiddenf("Image %s is not a shared image: only shared images have members.", id)
	}
	return img, nil
}

// AddMember shares an image with a project (status pending).
func (s *Service) AddMember(ctx context.Context, p *authn.Principal, id, member string) (*Member, error) {
	if member == "" || len(member) > 255 {
		return nil, fault.BadRequestf("Invalid member id.")
	}
	if _, err := s.sharedImage(ctx, p, id, "add_member"); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(1e9)
	m := &Member{ImageID: id, MemberID: member, Status: MemberPending, CreatedAt: now, UpdatedAt: now}
	_, err := s.db.ExecContext(ctx, `INSERT INTO image_members (image_id, member_id, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)`, id, member, m.Status, now.UnixMicro(), now.UnixMicro())
	if db.IsUniqueViolation(err) {
		return nil, fault.Conflictf("Member %s already exists for image %s.", member, id)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ListMembers lists an image's members: all of them for the owner, only
// its own entry for a member.
func (s *Service) ListMembers(ctx context.Context, p *authn.Principal, id string) ([]Member, error) {
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "get_members", target(img)); err != nil {
		return nil, err
	}
	if img.Visibility != Shared {
		return nil, fault.Forbiddenf("Image %s is not a shared image: only shared images have members.", id)
	}
	all, err := listMembers(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if img.Owner == p.ProjectID || isAdmin(s, p) {
		return all, nil
	}
	var mine []Member
	for _, m := range all {
		if m.MemberID == p.ProjectID {
			mine = append(mine, m)
		}
	}
	return mine, nil
}

// GetMember shows one membership to the owner or that member.
func (s *Service) GetMember(ctx context.Context, p *authn.Principal, id, member string) (*Member, error) {
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "get_member", target(img)); err != nil {
		return nil, err
	}
	if img.Owner != p.ProjectID && member != p.ProjectID && !isAdmin(s, p) {
		return nil, fault.NotFoundf("%s not found in the member list of the image %s.", member, id)
	}
	return getMember(ctx, s.db, id, member)
}

// UpdateMember is the member accepting or rejecting the share.
func (s *Service) UpdateMember(ctx context.Context, p *authn.Principal, id, member, status string) (*Member, error) {
	if status != MemberPending && status != MemberAccepted && status != MemberRejected {
		return nil, fault.BadRequestf("Status must be one of pending, accepted, rejected.")
	}
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "modify_member", map[string]any{"member_id": member, "owner": img.Owner}); err != nil {
		return nil, err
	}
	if member != p.ProjectID && !isAdmin(s, p) {
		return nil, fault.Forbiddenf("You are not permitted to modify 'status' on this image member.")
	}
	var out *Member
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		m, err := getMember(ctx, tx, id, member)
		if err != nil {
			return err
		}
		m.Status, m.UpdatedAt = status, s.now().UTC().Truncate(1e9)
		_, err = tx.ExecContext(ctx, `UPDATE image_members SET status = $3, updated_at = $4 WHERE image_id = $1 AND member_id = $2`,
			id, member, status, m.UpdatedAt.UnixMicro())
		out = m
		return err
	})
	return out, err
}

// DeleteMember stops sharing with a project.
func (s *Service) DeleteMember(ctx context.Context, p *authn.Principal, id, member string) error {
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return err
	}
	if err := s.authorize(p, "delete_member", target(img)); err != nil {
		return err
	}
	if img.Owner != p.ProjectID && !isAdmin(s, p) {
		return fault.Forbiddenf("You are not permitted to delete members of image %s.", id)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM image_members WHERE image_id = $1 AND member_id = $2`, id, member)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fault.NotFoundf("%s not found in the member list of the image %s.", member, id)
	}
	return nil
}
