package image

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// copy-image: an active image's data is copied from its first store into
// more stores by a durable task; the image stays active meanwhile.

// copyImage starts a copy-image task.
func (s *Service) copyImage(ctx context.Context, p *authn.Principal, id string, req importRequest) (*Task, error) {
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "copy_image", target(img)); err != nil {
		return nil, err
	}
	if img.Status != StatusActive {
		return nil, fault.Conflictf("Image %s is not active: only active images can be copied.", id)
	}
	have := img.storeIDs()
	var targets []string
	switch {
	case req.AllStores:
		for sid := range s.stores {
			if !slices.Contains(have, sid) {
				targets = append(targets, sid)
			}
		}
		slices.Sort(targets)
	case len(req.Stores) > 0:
		for _, sid := range req.Stores {
			if _, _, err := s.storeFor(sid); err != nil {
				return nil, err
			}
			if slices.Contains(have, sid) {
				return nil, fault.Conflictf("Image %s is already in store %s.", id, sid)
			}
			if !slices.Contains(targets, sid) {
				targets = append(targets, sid)
			}
		}
	default:
		return nil, fault.BadRequestf("copy-image needs 'stores' or 'all_stores'.")
	}
	if len(targets) == 0 {
		return nil, fault.Conflictf("Image %s is already in every store.", id)
	}
	now := s.now().UTC().Truncate(time.Second)
	stores := make([]any, len(targets))
	for i, t := range targets {
		stores[i] = t
	}
	t := &Task{ID: uuid.NewString(), Type: "api_image_import", Status: TaskPending, Owner: img.Owner, UserID: p.UserID,
		ImageID: id, RequestID: httpx.RequestID(ctx), Result: map[string]any{}, CreatedAt: now, UpdatedAt: now,
		Input: map[string]any{"import_req": map[string]any{"method": map[string]any{"name": "copy-image"}}, "stores": stores}}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.setImportProps(ctx, tx, id, map[string]string{"os_glance_importing_to_stores": strings.Join(targets, ",")},
			"os_glance_failed_import"); err != nil {
			return err
		}
		return insertTask(ctx, tx, t)
	})
	if err != nil {
		return nil, err
	}
	job, _ := json.Marshal(importJob{TaskID: t.ID})
	if err := s.bus.Enqueue(ctx, importQueue, job); err != nil {
		_ = s.setTaskStatus(context.WithoutCancel(ctx), t, TaskFailure, "could not queue the copy")
		return nil, fault.Wrap(fault.Unavailable, err, "The copy could not be queued; try again.")
	}
	return t, nil
}

// runCopy copies an image into each target store that does not hold it
// yet; a store that fails is recorded in os_glance_failed_import and the
// image keeps the copies that worked.
func (s *Service) runCopy(ctx context.Context, t *Task, img *Image) error {
	var failed []string
	list, _ := t.Input["stores"].([]any)
	for _, v := range list {
		sid, _ := v.(string)
		if err := s.copyTo(ctx, img, sid); err != nil {
			s.log.Error("copy image", "image", img.ID, "store", sid, "err", err)
			failed = append(failed, sid)
		}
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		set := map[string]string{}
		if len(failed) > 0 {
			set["os_glance_failed_import"] = strings.Join(failed, ",")
		}
		if err := s.setImportProps(ctx, tx, img.ID, set, "os_glance_importing_to_stores"); err != nil {
			return err
		}
		if len(failed) > 0 {
			return updateTask(ctx, tx, t, TaskFailure, "Copying to "+strings.Join(failed, ", ")+" failed.", s.now())
		}
		t.Result = map[string]any{"image_id": img.ID}
		return updateTask(ctx, tx, t, TaskSuccess, "", s.now())
	})
	if fault.Is(err, fault.NotFound) {
		return nil
	}
	return err
}

// copyTo streams the image's data from its first store into store sid.
func (s *Service) copyTo(ctx context.Context, img *Image, sid string) error {
	if slices.Contains(img.storeIDs(), sid) {
		return nil // done by an earlier delivery of this task
	}
	dst, ok := s.stores[sid]
	if !ok {
		return fmt.Errorf("no store %s", sid)
	}
	src, err := s.storeOf(img).Open(ctx, img.Location, 0, -1)
	if err != nil {
		return err
	}
	defer src.Close()
	obj, err := dst.Put(ctx, img.ID, src, s.cfg.ImageSizeCap)
	if err != nil {
		return err
	}
	if img.Size != nil && obj.Size != *img.Size {
		_ = dst.Delete(context.WithoutCancel(ctx), obj.Location)
		return fmt.Errorf("copied %d bytes, the image has %d", obj.Size, *img.Size)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO image_locations (image_id, store, location) VALUES ($1, $2, $3)`,
		img.ID, sid, obj.Location)
	if err != nil {
		// the image may be gone: do not keep data nobody points at
		_ = dst.Delete(context.WithoutCancel(ctx), obj.Location)
		return err
	}
	img.Copies = append(img.Copies, Location{Store: sid, Location: obj.Location})
	return nil
}
