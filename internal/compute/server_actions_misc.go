package compute

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"regexp"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// Snapshots (createImage), console output, and the actions that change
// no task: deferred delete, network injection, crash dumps, passwords.

// nonInheritable are image properties a snapshot does not take from the
// server's image (Nova's NON_INHERITABLE_IMAGE_PROPERTIES and
// namespaces, and what describes the image's own data).
var nonInheritable = regexp.MustCompile(`^(cache_in_nova|bittorrent|img_signature.*|signature_verified|` +
	`img_csum.*|os_glance.*|owner_specified\.openstack\..*|stores|direct_url|locations|checksum|os_hash_.*|size|virtual_size)$`)

// createSnapshotImage creates the queued image record a snapshot of inst
// is uploaded into, as Nova's compute_utils.create_image: the server's
// image properties, instance_uuid, user_id, image_type "snapshot",
// base_image_ref, then extra (the caller's metadata) over them. An
// image of someone else's server is shared with its project.
func (s *Service) createSnapshotImage(ctx context.Context, p *authn.Principal, inst *instances.Instance, name string, extra map[string]string) (string, error) {
	if s.images == nil {
		return "", fault.New(fault.Unavailable, "Service is unavailable at this time.")
	}
	fields := map[string]any{}
	for k, v := range inst.Spec.Image.Properties {
		if !nonInheritable.MatchString(k) {
			fields[k] = v
		}
	}
	fields["instance_uuid"] = inst.UUID
	fields["user_id"] = p.UserID
	fields["image_type"] = "snapshot"
	if inst.ImageRef != "" {
		fields["base_image_ref"] = inst.ImageRef
	}
	fields["visibility"] = "private"
	if p.ProjectID != inst.ProjectID {
		fields["visibility"] = "shared"
		fields["instance_owner"] = inst.ProjectID
	}
	for k, v := range extra {
		fields[k] = v
	}
	// The fields Glance keeps as columns, not properties, last.
	fields["name"] = name
	fields["disk_format"] = "qcow2"
	fields["container_format"] = "bare"
	if inst.Spec.Image.MinRAMMB > 0 {
		fields["min_ram"] = inst.Spec.Image.MinRAMMB
	}
	if md := max(inst.Spec.Image.MinDiskGB, inst.Flavor.RootGB); md > 0 {
		fields["min_disk"] = md
	}
	id, err := s.images.CreateImage(ctx, p.Token, fields)
	if err != nil {
		if fault.KindOf(err) != fault.Internal {
			return "", err
		}
		return "", fmt.Errorf("create snapshot image of %s: %w", inst.UUID, err)
	}
	return id, nil
}

// dropSnapshotImage deletes an image record whose snapshot will not be
// made.
func (s *Service) dropSnapshotImage(ctx context.Context, p *authn.Principal, id string) {
	if err := s.images.DeleteImage(context.WithoutCancel(ctx), p.Token, id); err != nil && !errors.Is(err, instances.ErrNotFound) {
		s.log.WarnContext(ctx, "delete unused snapshot image", "image", id, "err", err)
	}
}

// CreateImage is Nova's snapshot: it creates the image record with the
// caller's token, sets the task state and queues the snapshot, and
// returns the image's id. A lock does not stop it (a snapshot changes
// nothing of the server).
func (s *Service) CreateImage(ctx context.Context, p *authn.Principal, uuid, name string, metadata map[string]string, checkQuota bool) (string, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return "", err
	}
	target := map[string]any{"project_id": inst.ProjectID}
	if err := s.authorize(p, policyServerCreateImage, target); err != nil {
		return "", err
	}
	if checkQuota && len(metadata) > 0 {
		limits, err := s.effectiveLimits(ctx, s.db, p.ProjectID, "")
		if err != nil {
			return "", err
		}
		if l, ok := limits["metadata_items"]; ok && !unlimited(l) && int64(len(metadata)) > l {
			return "", fault.Forbiddenf("Image metadata limit exceeded")
		}
	}
	if inst.ImageRef == "" {
		if err := s.authorize(p, policyServerCreateImageVolume, target); err != nil {
			return "", err
		}
	}
	check := stateCheck{vm: []string{instances.Active, instances.Stopped, instances.Paused, instances.Suspended},
		task: noTask, launched: true}
	if err := check.check(inst, "createImage"); err != nil {
		return "", err
	}
	id, err := s.createSnapshotImage(ctx, p, inst, name, metadata)
	if err != nil {
		return "", err
	}
	if _, err := s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskImageSnapshot, action: "createImage",
		kind: tasks.Snapshot, args: tasks.Task{ImageID: id}}); err != nil {
		s.dropSnapshotImage(ctx, p, id)
		if fault.Is(err, fault.Conflict) {
			// Nova's answer when the server changed under the snapshot.
			now, gerr := s.instances.Get(ctx, uuid, false)
			if errors.Is(gerr, instances.ErrNotFound) {
				return "", invalidState("createImage", uuid, "vm_state", instances.Deleted)
			}
			if gerr == nil {
				return "", invalidState("createImage", uuid, "task_state", pyNone(now.TaskState))
			}
		}
		return "", err
	}
	return id, nil
}

// consoleJunk is what Nova strips from console output: control
// characters other than tab, newline and form feed... as its regexp
// [\x00-\x08\x0B-\x1F] says.
var consoleJunk = regexp.MustCompile("[\x00-\x08\x0B-\x1F]")

// ConsoleOutput is os-getConsoleOutput: the tail of the server's serial
// console, asked of its host's agent (length lines; nil or -1 for all
// the host keeps).
func (s *Service) ConsoleOutput(ctx context.Context, p *authn.Principal, uuid string, length *int) (string, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return "", err
	}
	if err := s.authorize(p, policyConsoleOutput, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return "", err
	}
	if err := checkHost(inst); err != nil {
		return "", err
	}
	if s.bus == nil {
		return "", fault.New(fault.Unavailable, "Service is unavailable at this time.")
	}
	if length != nil && *length < 0 {
		length = nil
	}
	rep, err := rpc.Client{Bus: s.bus}.Call(ctx, inst.Host, rpc.Request{Op: rpc.ConsoleOutput, Length: length,
		Instance: rpc.Instance{UUID: inst.UUID, Name: instanceName(inst)}})
	var re *rpc.Error
	switch {
	case errors.As(err, &re) && re.Code == rpc.CodeNotFound:
		return "", fault.NotFoundf("Guest does not have a console available.")
	case errors.As(err, &re) && re.Code == rpc.CodeUnsupported:
		return "", fault.New(fault.NotImplemented, "The requested functionality is not supported.")
	case errors.Is(err, rpc.ErrUnreachable):
		return "", fault.Wrap(fault.Conflict, err, "Instance %s is not ready", inst.UUID)
	case err != nil:
		return "", fmt.Errorf("console output of %s: %w", inst.UUID, err)
	}
	out := ""
	if rep.Output != nil {
		out = *rep.Output
	}
	return consoleJunk.ReplaceAllString(out, ""), nil
}

// instanceName is the guest's name on its host, Nova's
// instance_name_template "instance-%08x".
func instanceName(inst *instances.Instance) string { return fmt.Sprintf("instance-%08x", inst.ID) }

// ForceDelete is os-deferred-delete's forceDelete. Without soft delete
// (reclaim_instance_interval 0, as here) it is a plain delete of the
// server in any state, unless locked: DeleteServer's, under the force
// rule.
func (s *Service) ForceDelete(ctx context.Context, p *authn.Principal, uuid string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyForceDelete, instanceTarget(inst)); err != nil {
		return err
	}
	return s.DeleteServer(ctx, p, uuid, httpx.RequestID(ctx))
}

// Restore is os-deferred-delete's restore, of soft-deleted servers only;
// with soft delete off none is ever soft deleted.
func (s *Service) Restore(ctx context.Context, p *authn.Principal, uuid string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyRestore, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return err
	}
	if err := s.checkLock(p, inst); err != nil {
		return err
	}
	return stateCheck{vm: []string{instances.SoftDeleted}, task: noTask, launched: true}.check(inst, "restore")
}

// InjectNetworkInfo is an admin action that asks the host to refresh the
// guest's network configuration; a server here has no ports, so there
// is nothing to inject once the checks pass.
func (s *Service) InjectNetworkInfo(ctx context.Context, p *authn.Principal, uuid string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyInjectNetwork, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return err
	}
	return s.checkLock(p, inst)
}

// TriggerCrashDump is Nova's trigger_crash_dump (2.17). The hosts here
// cannot inject an NMI, so after Nova's checks the answer is Nova's
// TriggerCrashDumpNotSupported.
func (s *Service) TriggerCrashDump(ctx context.Context, p *authn.Principal, uuid string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyServerCrashDump, instanceTarget(inst)); err != nil {
		return err
	}
	if err := s.checkLock(p, inst); err != nil {
		return err
	}
	if err := checkHost(inst); err != nil {
		return err
	}
	check := stateCheck{vm: []string{instances.Active, instances.Paused, instances.Rescued, instances.Resized, instances.Error},
		task: noTask, launched: true}
	if err := check.check(inst, "trigger_crash_dump"); err != nil {
		return err
	}
	return fault.BadRequestf("Triggering crash dump is not supported")
}

// ChangePassword is changePassword. The drivers here have no guest agent
// to set a password with; after Nova's checks the answer is the 409 Nova
// gives for a driver that cannot (SetAdminPasswdNotSupported).
func (s *Service) ChangePassword(ctx context.Context, p *authn.Principal, uuid string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyAdminPassword, instanceTarget(inst)); err != nil {
		return err
	}
	if err := s.checkLock(p, inst); err != nil {
		return err
	}
	check := stateCheck{vm: []string{instances.Active}, task: noTask, launched: true}
	if err := check.check(inst, "changePassword"); err != nil {
		return err
	}
	return fault.Conflictf("Set admin password is not supported")
}

// passwordSymbols are Nova's default password symbols, without the ones
// easy to confuse (0, O, 1, l, I).
const passwordSymbols = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// generatePassword is Nova's utils.generate_password: 12 random symbols.
func generatePassword() string {
	b := make([]byte, 12)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(passwordSymbols))))
		if err != nil {
			panic("crypto/rand: " + err.Error())
		}
		b[i] = passwordSymbols[n.Int64()]
	}
	return string(b)
}

// Diagnostics is what GET /servers/{id}/diagnostics shows, from the
// guest's state on its host.
type Diagnostics struct {
	Instance       *instances.Instance
	Info           rpc.Info
	HypervisorType string // the node's, "" when unknown
}

// powerStateNames are Nova's power_state.STATE_MAP.
var powerStateNames = map[int]string{instances.PowerNoState: "pending", instances.PowerRunning: "running",
	instances.PowerPaused: "paused", instances.PowerShutdown: "shutdown", instances.PowerCrashed: "crashed",
	instances.PowerSuspended: "suspended"}

// ServerDiagnostics asks the server's agent for the guest's state, for
// admins, as Nova's get_instance_diagnostics: only of a running guest.
func (s *Service) ServerDiagnostics(ctx context.Context, p *authn.Principal, uuid string) (*Diagnostics, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyDiagnostics, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return nil, err
	}
	if err := checkHost(inst); err != nil {
		return nil, err
	}
	if s.bus == nil {
		return nil, fault.New(fault.Unavailable, "Service is unavailable at this time.")
	}
	rep, err := rpc.Client{Bus: s.bus}.Call(ctx, inst.Host, rpc.Request{Op: rpc.GetInfo,
		Instance: rpc.Instance{UUID: inst.UUID, Name: instanceName(inst)}})
	var re *rpc.Error
	switch {
	case errors.As(err, &re) && re.Code == rpc.CodeNotFound:
		return nil, fault.NotFoundf("Instance %s could not be found.", inst.UUID)
	case errors.Is(err, rpc.ErrUnreachable):
		return nil, fault.Wrap(fault.Conflict, err, "Instance %s is not ready", inst.UUID)
	case err != nil:
		return nil, fmt.Errorf("diagnostics of %s: %w", inst.UUID, err)
	case rep.Info == nil:
		return nil, fmt.Errorf("diagnostics of %s: the agent sent no info", inst.UUID)
	}
	if int(rep.Info.PowerState) != instances.PowerRunning {
		return nil, invalidState("get_diagnostics", inst.UUID, "power_state", powerStateNames[int(rep.Info.PowerState)])
	}
	d := &Diagnostics{Instance: inst, Info: *rep.Info}
	if nodes, err := s.instances.ListComputeNodes(ctx, inst.Host); err == nil && len(nodes) > 0 {
		d.HypervisorType = nodes[0].HypervisorType
	}
	return d, nil
}
