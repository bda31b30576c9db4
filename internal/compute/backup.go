package compute

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// createBackup: a snapshot whose image is marked a backup of a type
// ("daily", "weekly"), keeping only the newest `rotation` backups of
// the server of that type. The snapshot is createImage's (the same task
// for the conductor, so the server shows image_snapshot where Nova
// shows image_backup); the rotation runs here, right after the
// snapshot is queued, counting the new backup as the newest.

// backupUploadWait bounds how long a backup that rotation 0 drops is
// waited for before it is deleted (Nova deletes it once uploaded).
var backupUploadWait = 30 * time.Minute

// CreateBackup backs up a server and returns the backup image's id.
func (s *Service) CreateBackup(ctx context.Context, p *authn.Principal, uuid, name, backupType string, rotation int,
	metadata map[string]string, checkQuota bool) (string, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return "", err
	}
	if err := s.authorize(p, policyCreateBackup, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return "", err
	}
	if checkQuota {
		if err := s.checkImageMetadataQuota(ctx, p, len(metadata)); err != nil {
			return "", err
		}
	}
	if inst.ImageRef == "" {
		return "", fault.BadRequestf("Backup is not supported for volume-backed instances.")
	}
	check := stateCheck{vm: []string{instances.Active, instances.Stopped, instances.Paused, instances.Suspended},
		task: noTask, launched: true}
	if err := check.check(inst, "createBackup"); err != nil {
		return "", err
	}
	extra := map[string]string{}
	for k, v := range metadata {
		extra[k] = v
	}
	if _, ok := extra["image_type"]; !ok {
		extra["image_type"] = "backup"
	}
	extra["backup_type"] = backupType
	id, err := s.createSnapshotImage(ctx, p, inst, name, extra)
	if err != nil {
		return "", err
	}
	if _, err := s.apply(ctx, p, inst, transition{expect: noTask, task: instances.TaskImageSnapshot, action: "createBackup",
		kind: tasks.Snapshot, args: tasks.Task{ImageID: id}}); err != nil {
		s.dropSnapshotImage(ctx, p, id)
		if fault.Is(err, fault.Conflict) {
			now, gerr := s.instances.Get(ctx, uuid, false)
			if errors.Is(gerr, instances.ErrNotFound) {
				return "", invalidState("createBackup", uuid, "vm_state", instances.Deleted)
			}
			if gerr == nil {
				return "", invalidState("createBackup", uuid, "task_state", pyNone(now.TaskState))
			}
		}
		return "", err
	}
	s.rotateBackups(ctx, p, inst.UUID, backupType, rotation, id)
	return id, nil
}

// rotateBackups deletes the server's backups of backupType beyond the
// newest rotation, newest first by creation and the one just made
// (latest) first of all. A failure is logged: the backup itself is made.
func (s *Service) rotateBackups(ctx context.Context, p *authn.Principal, uuid, backupType string, rotation int, latest string) {
	ip, ok := s.images.(ImageProxyAPI)
	if !ok {
		s.log.WarnContext(ctx, "cannot rotate backups: the image client cannot list images", "instance", uuid)
		return
	}
	q := url.Values{"image_type": {"backup"}, "backup_type": {backupType}, "instance_uuid": {uuid},
		"sort_key": {"created_at"}, "sort_dir": {"desc"}}
	list, err := ip.ListImages(ctx, p.Token, q)
	if err != nil {
		s.log.WarnContext(ctx, "list backups to rotate", "instance", uuid, "err", err)
		return
	}
	keep := rotation
	if keep > 0 {
		keep-- // the latest
	}
	for _, img := range list {
		if img.ID == latest {
			continue
		}
		if keep > 0 {
			keep--
			continue
		}
		if err := s.images.DeleteImage(ctx, p.Token, img.ID); err != nil && !errors.Is(err, instances.ErrNotFound) {
			s.log.WarnContext(ctx, "delete rotated backup", "instance", uuid, "image", img.ID, "err", err)
		}
	}
	if rotation == 0 {
		// Nova deletes even the new backup, once uploaded.
		go s.dropWhenUploaded(context.WithoutCancel(ctx), ip, p, latest)
	}
}

// dropWhenUploaded deletes a backup once its upload ended.
func (s *Service) dropWhenUploaded(ctx context.Context, ip ImageProxyAPI, p *authn.Principal, id string) {
	deadline := time.Now().Add(backupUploadWait)
	for time.Now().Before(deadline) {
		img, err := ip.ImageRecord(ctx, p.Token, id)
		if errors.Is(err, instances.ErrNotFound) {
			return
		}
		if err == nil && img.Status != "queued" && img.Status != "saving" && img.Status != "uploading" && img.Status != "importing" {
			break
		}
		time.Sleep(time.Second)
	}
	if err := s.images.DeleteImage(ctx, p.Token, id); err != nil && !errors.Is(err, instances.ErrNotFound) {
		s.log.WarnContext(ctx, "delete backup of rotation 0", "image", id, "err", err)
	}
}

// actionCreateBackup is POST /servers/{id}/action {"createBackup": ...}.
func (h *handlers) actionCreateBackup(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
	o, err := actionObject("createBackup", arg, false, []string{"name", "backup_type", "rotation", "metadata"},
		"name", "backup_type", "rotation")
	if err != nil {
		return err
	}
	v := mv(r)
	name, err := nameField("name", o["name"], v.Legacy())
	if err != nil {
		return err
	}
	backupType, err := jsonString("backup_type", o["backup_type"])
	if err != nil {
		return err
	}
	rotation, err := intLike("rotation", o["rotation"], 0, -1)
	if err != nil {
		return err
	}
	var md map[string]string
	if raw, ok := o["metadata"]; ok {
		if md, err = metadataField("metadata", raw); err != nil {
			return err
		}
	}
	imageID, err := h.svc.CreateBackup(r.Context(), principal(r), id, name, backupType, int(rotation), md, !v.AtLeast(39))
	if err != nil {
		return err
	}
	if v.AtLeast(45) {
		return writeJSON(w, http.StatusAccepted, map[string]any{"image_id": imageID})
	}
	if rotation > 0 {
		w.Header().Set("Location", h.svc.imageURL(r, imageID))
	}
	return noBody(w, http.StatusAccepted)
}
