package compute

import (
	"context"
	"errors"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Actions that change what a server runs or where: resize with its
// confirm and revert, rebuild, rescue, shelve and unshelve, and the moves
// this cloud does not make (migrate, live migrate).

// checkHostUp is Nova's check_instance_host(check_is_up=True): the
// server's compute service must be up or disabled, not down.
func (s *Service) checkHostUp(ctx context.Context, inst *instances.Instance) error {
	if err := checkHost(inst); err != nil {
		return err
	}
	switch s.hostStatus(ctx, inst.Host) {
	case hostUp, hostMaintenance:
		return nil
	}
	return fault.Conflictf("Service is unavailable at this time.")
}

// Resize is Nova's resize to another flavor: an active or stopped
// server on a working host, to a flavor the caller may use that differs
// from its own, whose image fits, within quota for what it adds.
func (s *Service) Resize(ctx context.Context, p *authn.Principal, uuid, flavorRef string, autoDiskConfig *bool) (*instances.Instance, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyServerResize, instanceTarget(inst)); err != nil {
		return nil, err
	}
	if err := s.checkLock(p, inst); err != nil {
		return nil, err
	}
	check := stateCheck{vm: []string{instances.Active, instances.Stopped}, task: noTask, launched: true}
	if err := check.check(inst, "resize"); err != nil {
		return nil, err
	}
	if err := s.checkHostUp(ctx, inst); err != nil {
		return nil, err
	}
	f, err := s.GetFlavor(ctx, p, flavorRef)
	if fault.Is(err, fault.NotFound) || (err == nil && f.Disabled && f.FlavorID != inst.Flavor.FlavorID) {
		return nil, fault.BadRequestf("Flavor %s could not be found.", flavorRef)
	}
	if err != nil {
		return nil, err
	}
	to := instanceFlavorOf(f)
	if to.RootGB == 0 && inst.Flavor.RootGB != 0 && inst.ImageRef != "" {
		return nil, fault.BadRequestf("Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.")
	}
	if to.FlavorID == inst.Flavor.FlavorID {
		return nil, fault.BadRequestf("When resizing, instances must change flavor!")
	}
	if err := s.checkUpsize(ctx, inst, to, inst.Flavor); err != nil {
		return nil, err
	}
	if inst.ImageRef != "" {
		if err := imageFits(inst.Spec.Image, to); err != nil {
			return nil, err
		}
	}
	return s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskResizePrep, action: "resize", kind: tasks.Resize,
		change: func(i *instances.Instance) error {
			nf := to
			i.NewFlavor = &nf
			i.Progress = 0
			i.AutoDiskConfig = autoDiskConfig != nil && *autoDiskConfig
			return nil
		}})
}

// RevertResize is Nova's revert_resize: back to the old flavor, within
// quota for what that adds back.
func (s *Service) RevertResize(ctx context.Context, p *authn.Principal, uuid string) (*instances.Instance, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyServerRevertResize, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return nil, err
	}
	if err := s.checkLock(p, inst); err != nil {
		return nil, err
	}
	check := stateCheck{vm: []string{instances.Resized}, task: noTask, launched: true}
	if err := check.check(inst, "revertResize"); err != nil {
		return nil, err
	}
	if inst.OldFlavor == nil {
		return nil, fault.BadRequestf("Instance has not been resized.")
	}
	if err := s.checkUpsize(ctx, inst, *inst.OldFlavor, inst.Flavor); err != nil {
		return nil, err
	}
	return s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskResizeReverting, action: "revertResize",
		kind: tasks.Revert})
}

// RebuildArgs are a rebuild's fields; nil pointers leave a field as it is.
type RebuildArgs struct {
	ImageRef          string
	AdminPass         string // generated when ""
	Name              *string
	Description       **string
	Metadata          map[string]string // nil = unchanged
	PreserveEphemeral bool
	AutoDiskConfig    *bool
	AccessIPv4        *string
	AccessIPv6        *string
	KeyName           **string // 2.54: set, or nil to remove
	UserData          *[]byte  // 2.57: set, or nil to remove
	TrustedCerts      *[]string
	Hostname          *string // 2.90
}

// Rebuild is Nova's rebuild: a new image (or the same) on the same host,
// with new name, metadata, key and user data as asked. It returns the
// server as written and the admin password.
func (s *Service) Rebuild(ctx context.Context, p *authn.Principal, uuid string, a RebuildArgs) (*instances.Instance, string, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, "", err
	}
	target := instanceTarget(inst)
	if err := s.authorize(p, policyServerRebuild, target); err != nil {
		return nil, "", err
	}
	if a.TrustedCerts != nil {
		if err := s.authorize(p, policyServerRebuildCerts, target); err != nil {
			return nil, "", err
		}
	}
	if err := s.checkLock(p, inst); err != nil {
		return nil, "", err
	}
	check := stateCheck{vm: []string{instances.Active, instances.Stopped, instances.Error}, task: noTask, launched: true}
	if err := check.check(inst, "rebuild"); err != nil {
		return nil, "", err
	}
	var key *KeyPair
	if a.KeyName != nil && *a.KeyName != nil {
		// The caller's key, not the owner's: users own keys, projects
		// own servers.
		key, err = getKeyPair(ctx, s.db, p.UserID, **a.KeyName)
		if err != nil {
			return nil, "", err
		}
		if key == nil {
			return nil, "", fault.BadRequestf("Invalid key_name provided.")
		}
	}
	img, err := s.rebuildImage(ctx, p, a.ImageRef)
	if err != nil {
		return nil, "", err
	}
	if err := imageFits(img.Image, inst.Flavor); err != nil {
		return nil, "", err
	}
	if a.Metadata != nil {
		if err := s.checkMetadataItems(ctx, inst.ProjectID, len(a.Metadata)); err != nil {
			return nil, "", err
		}
	}
	pass := a.AdminPass
	if pass == "" {
		pass = generatePassword()
	}
	out, err := s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskRebuilding, action: "rebuild",
		kind: tasks.Rebuild, args: tasks.Task{ImageID: img.ID},
		change: func(i *instances.Instance) error {
			i.ImageRef = img.ID
			i.Spec.Image = img.Image
			i.Progress = 0
			if a.Name != nil {
				i.Name = *a.Name
			}
			if a.Description != nil {
				i.Description = *a.Description
			}
			if a.Metadata != nil {
				i.Metadata = a.Metadata
			}
			if a.AutoDiskConfig != nil {
				i.AutoDiskConfig = *a.AutoDiskConfig
			}
			if a.AccessIPv4 != nil {
				i.AccessIPv4 = *a.AccessIPv4
			}
			if a.AccessIPv6 != nil {
				i.AccessIPv6 = *a.AccessIPv6
			}
			if a.KeyName != nil {
				i.KeyName, i.KeyData, i.KeyType = "", "", ""
				if key != nil {
					i.KeyName, i.KeyData, i.KeyType = key.Name, key.PublicKey, key.Type
				}
			}
			if a.UserData != nil {
				i.UserData = *a.UserData
			}
			if a.TrustedCerts != nil {
				i.TrustedCerts = *a.TrustedCerts
			}
			if a.Hostname != nil {
				i.Hostname = *a.Hostname
			}
			return nil
		}})
	if err != nil {
		return nil, "", err
	}
	return out, pass, nil
}

// rebuildImage is the image a rebuild asks for, as the caller sees it.
func (s *Service) rebuildImage(ctx context.Context, p *authn.Principal, ref string) (*ImageInfo, error) {
	if s.images == nil {
		return nil, fault.New(fault.Unavailable, "Service is unavailable at this time.")
	}
	img, err := s.images.GetImage(ctx, p.Token, ref)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, fault.BadRequestf("Cannot find image for rebuild")
	}
	if err != nil {
		return nil, err
	}
	if img.Status != "active" {
		return nil, fault.BadRequestf("Image %s is not active.", ref)
	}
	if img.ID == "" {
		img.ID = ref
	}
	return img, nil
}

// checkMetadataItems is Nova's _check_metadata_properties_quota on the
// number of items.
func (s *Service) checkMetadataItems(ctx context.Context, projectID string, n int) error {
	limits, err := s.effectiveLimits(ctx, s.db, projectID, "")
	if err != nil {
		return err
	}
	if l, ok := limits["metadata_items"]; ok && !unlimited(l) && int64(n) > l {
		return fault.Forbiddenf("Maximum number of metadata items exceeds %d", l)
	}
	return nil
}

// Rescue is Nova's rescue: boot the server from a rescue image (its own
// image unless one is named) with its disk attached. It returns the
// password of the rescue system.
func (s *Service) Rescue(ctx context.Context, p *authn.Principal, uuid, adminPass, rescueImage string) (string, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return "", err
	}
	if err := s.authorize(p, policyRescue, instanceTarget(inst)); err != nil {
		return "", err
	}
	if err := s.checkLock(p, inst); err != nil {
		return "", err
	}
	check := stateCheck{vm: []string{instances.Active, instances.Stopped, instances.Error}, task: noTask, launched: true}
	if err := check.check(inst, "rescue"); err != nil {
		return "", err
	}
	image := inst.ImageRef
	if rescueImage != "" {
		if s.images == nil {
			return "", fault.New(fault.Unavailable, "Service is unavailable at this time.")
		}
		img, err := s.images.GetImage(ctx, p.Token, rescueImage)
		if errors.Is(err, instances.ErrNotFound) {
			return "", fault.BadRequestf("Requested rescue image '%s' is not supported", rescueImage)
		}
		if err != nil {
			return "", err
		}
		if img.Properties["img_block_device_mapping"] != "" {
			return "", fault.BadRequestf("Requested rescue image '%s' is not supported", rescueImage)
		}
		image = rescueImage
	}
	if image == "" {
		return "", fault.BadRequestf("Instance %s cannot be rescued: Cannot rescue a volume-backed instance", inst.UUID)
	}
	if adminPass == "" {
		adminPass = generatePassword()
	}
	_, err = s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskRescuing, action: "rescue", kind: tasks.Rescue,
		args: tasks.Task{ImageID: image},
		change: func(i *instances.Instance) error {
			i.RescueImageRef = image
			i.PreviousVMState = i.VMState
			return nil
		}})
	if err != nil {
		return "", err
	}
	return adminPass, nil
}

// Shelve is Nova's shelve: snapshot the server into a new image
// ("<name>-shelved"), to be offloaded from its host.
func (s *Service) Shelve(ctx context.Context, p *authn.Principal, uuid string) (*instances.Instance, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyShelve, instanceTarget(inst)); err != nil {
		return nil, err
	}
	if err := s.checkLock(p, inst); err != nil {
		return nil, err
	}
	check := stateCheck{vm: []string{instances.Active, instances.Stopped, instances.Paused, instances.Suspended},
		task: noTask, launched: true}
	if err := check.check(inst, "shelve"); err != nil {
		return nil, err
	}
	if inst.ImageRef == "" {
		// A volume-backed server goes straight to offloading.
		return s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskShelving, action: "shelve",
			kind: tasks.ShelveOffload})
	}
	imageID, err := s.createSnapshotImage(ctx, p, inst, inst.Name+"-shelved", nil)
	if err != nil {
		return nil, err
	}
	out, err := s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskShelving, action: "shelve", kind: tasks.Shelve,
		args: tasks.Task{ImageID: imageID}})
	if err != nil {
		s.dropSnapshotImage(ctx, p, imageID)
		return nil, err
	}
	return out, nil
}

// UnshelveArgs are unshelve's optional target: a zone (2.77; set to ""
// to unpin the server from its zone, 2.91) and a host (2.91, admins).
type UnshelveArgs struct {
	Zone *string
	Host string
}

// Unshelve is Nova's unshelve: a shelved server runs again, on its host
// when it is still there, else wherever the scheduler puts it.
func (s *Service) Unshelve(ctx context.Context, p *authn.Principal, uuid string, a UnshelveArgs) (*instances.Instance, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyUnshelve, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return nil, err
	}
	if err := s.checkLock(p, inst); err != nil {
		return nil, err
	}
	check := stateCheck{vm: []string{instances.Shelved, instances.ShelvedOffloaded}, task: noTask, launched: true}
	if err := check.check(inst, "unshelve"); err != nil {
		return nil, err
	}
	if (a.Zone != nil || a.Host != "") && inst.VMState != instances.ShelvedOffloaded {
		return nil, fault.Conflictf("Specifying an availability zone or a host when unshelving server \"%s\" with status \"%s\" "+
			"is not supported. The server status must be SHELVED_OFFLOADED.", inst.UUID, inst.VMState)
	}
	if a.Zone != nil && *a.Zone != "" {
		ok, err := s.zoneAvailable(ctx, p, *a.Zone)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fault.BadRequestf("The requested availability zone is not available")
		}
	}
	zone := inst.Spec.AvailabilityZone
	if a.Zone != nil {
		zone = *a.Zone
	}
	if a.Host != "" {
		if err := s.authorize(p, policyUnshelveToHost, instanceTarget(inst)); err != nil {
			return nil, err
		}
		nodes, err := s.instances.ListComputeNodes(ctx, a.Host)
		if err != nil {
			return nil, err
		}
		if len(nodes) == 0 {
			return nil, fault.BadRequestf("Compute host %s could not be found.", a.Host)
		}
		if zone != "" {
			hz, err := s.hostZones(ctx)
			if err != nil {
				return nil, err
			}
			in := hz[a.Host]
			if in == "" {
				in = s.cfg.DefaultAvailabilityZone
			}
			if !contains(strings.Split(in, ","), zone) {
				return nil, fault.Conflictf("Host \"%s\" is not in the availability zone \"%s\".", a.Host, zone)
			}
		}
	}
	return s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskUnshelving, action: "unshelve", kind: tasks.Unshelve,
		args: tasks.Task{AvailabilityZone: zone},
		change: func(i *instances.Instance) error {
			i.Spec.AvailabilityZone = zone
			if a.Host != "" {
				i.Spec.ForceHost = a.Host
			}
			return nil
		}})
}

// zoneAvailable tells whether zone is one the caller could pick.
func (s *Service) zoneAvailable(ctx context.Context, p *authn.Principal, zone string) (bool, error) {
	zones, err := s.AvailabilityZones(ctx, p, false)
	if fault.Is(err, fault.Forbidden) {
		return zone == s.cfg.DefaultAvailabilityZone, nil
	}
	if err != nil {
		return false, err
	}
	for _, z := range zones {
		if z.Name == zone && z.Available {
			return true, nil
		}
	}
	return false, nil
}

// Migrate and LiveMigrate are the moves between hosts, which this cloud
// does not make yet: after Nova's checks, the caller gets Nova's
// NoValidHost rather than a 202 for a move that would never happen.
func (s *Service) Migrate(ctx context.Context, p *authn.Principal, uuid, host string, live bool) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	rule, action := policyMigrate, "migrate"
	switch {
	case live && host != "":
		rule, action = policyMigrateLiveTo, "os-migrateLive"
	case live:
		rule, action = policyMigrateLive, "os-migrateLive"
	case host != "":
		rule = policyMigrateHost
	}
	if err := s.authorize(p, rule, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return err
	}
	if err := s.checkLock(p, inst); err != nil {
		return err
	}
	check := stateCheck{vm: []string{instances.Active, instances.Stopped}, task: noTask, launched: true}
	if live {
		check.vm = []string{instances.Active, instances.Paused}
	}
	if err := check.check(inst, action); err != nil {
		return err
	}
	if err := checkHost(inst); err != nil {
		return err
	}
	if host != "" {
		nodes, err := s.instances.ListComputeNodes(ctx, host)
		if err != nil {
			return err
		}
		if len(nodes) == 0 {
			return fault.BadRequestf("Compute host %s could not be found.", host)
		}
		if host == inst.Host {
			if live {
				return fault.BadRequestf("Unable to migrate instance (%s) to current host (%s).", inst.UUID, host)
			}
			return fault.BadRequestf("Cannot migrate to the host where the instance is running.")
		}
	}
	return fault.BadRequestf("No valid host was found. Moving servers between hosts is not supported by this cloud.")
}
