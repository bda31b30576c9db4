package image

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// Interoperable import: data is staged (glance-direct) or fetched
// (web-download), then an import task, durable on the bus, streams it
// through the same checks as an upload into the store.

const importQueue = "image-import"

func (h *handlers) importRoutes(rt *httpx.Router) {
	if !h.svc.importing() {
		return
	}
	rt.Stream("PUT /v2/images/{id}/stage", h.stage)
	rt.Handle("POST /v2/images/{id}/import", h.importImage)
	rt.Handle("GET /v2/images/{id}/tasks", h.imageTasks)
	rt.Handle("GET /v2/tasks", h.listTasks)
	rt.Handle("GET /v2/tasks/{id}", h.getTask)
	rt.Handle("GET /v2/schemas/task", h.schema(taskSchema))
	rt.Handle("GET /v2/schemas/tasks", h.schema(tasksSchema))
}

// importing reports whether import can run: it needs the bus for its
// durable tasks and a staging area.
func (s *Service) importing() bool { return s.bus != nil && s.staging != nil }

// ImportMethods are the interoperable import methods this cloud offers:
// web-download only where the operator allows hosts, copy-image only with
// several stores.
func (s *Service) ImportMethods() []string {
	if !s.importing() {
		return []string{}
	}
	methods := []string{"glance-direct"}
	if len(s.cfg.WebDownloadAllowed) > 0 {
		methods = append(methods, "web-download")
	}
	if len(s.stores) > 1 {
		methods = append(methods, "copy-image")
	}
	return methods
}

// Stage keeps data for a later glance-direct import; the image becomes
// "uploading".
func (s *Service) Stage(ctx context.Context, p *authn.Principal, id string, body io.Reader, contentLength int64) error {
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return err
	}
	if err := s.authorize(p, "upload_image", target(img)); err != nil {
		return err
	}
	if img.Owner != p.ProjectID && !isAdmin(s, p) {
		return fault.Forbiddenf("You are not permitted to stage data for image %s.", id)
	}
	maxSize, err := s.uploadCap(ctx, img.Owner)
	if err != nil {
		return err
	}
	if contentLength > maxSize {
		return fault.New(fault.TooLarge, "Image exceeds the storage quota")
	}
	if err := s.transition(ctx, id, StatusQueued, StatusUploading); err != nil {
		return err
	}
	obj, err := s.staging.Put(ctx, id, body, maxSize)
	if err != nil {
		_ = s.transition(context.WithoutCancel(ctx), id, StatusUploading, StatusQueued)
		if fault.KindOf(err) == fault.Internal {
			return fault.Wrap(fault.BadRequest, err, "Staging of image data was interrupted.")
		}
		return err
	}
	r, err := s.db.ExecContext(ctx, `UPDATE images SET stage_location = $2 WHERE id = $1 AND status = $3`, id, obj.Location, StatusUploading)
	if err == nil {
		if n, _ := r.RowsAffected(); n == 0 {
			err = fault.New(fault.Gone, "Image %s was deleted while its data was staged.", id)
		}
	}
	if err != nil {
		_ = s.staging.Delete(context.WithoutCancel(ctx), obj.Location)
		return err
	}
	return nil
}

// importRequest is the body of POST /v2/images/{id}/import.
type importRequest struct {
	Method *struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	} `json:"method"`
	Stores        []string `json:"stores"`
	AllStores     bool     `json:"all_stores"`
	AllStoresMust bool     `json:"all_stores_must_succeed"`
}

// Import starts an import task and returns it; the image becomes
// "importing" and the work goes on after the response (202).
func (s *Service) Import(ctx context.Context, p *authn.Principal, id string, req importRequest) (*Task, error) {
	if req.Method == nil || req.Method.Name == "" {
		return nil, fault.BadRequestf("Import request requires a 'method' field.")
	}
	method := req.Method.Name
	if !slices.Contains(s.ImportMethods(), method) {
		return nil, fault.BadRequestf("Import method %s is not valid for this cloud.", method)
	}
	if method == "copy-image" {
		return s.copyImage(ctx, p, id, req)
	}
	// New data goes to one store; copy-image then spreads it to others.
	storeID := ""
	switch {
	case req.AllStores && len(s.stores) > 1, len(req.Stores) > 1:
		return nil, fault.BadRequestf("Import into one store, then copy the image to more with copy-image.")
	case len(req.Stores) == 1:
		storeID = req.Stores[0]
	}
	storeID, _, err := s.storeFor(storeID)
	if err != nil {
		return nil, err
	}
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "upload_image", target(img)); err != nil {
		return nil, err
	}
	if img.Owner != p.ProjectID && !isAdmin(s, p) {
		return nil, fault.Forbiddenf("You are not permitted to import data for image %s.", id)
	}
	if img.DiskFormat == nil || img.ContainerFormat == nil {
		return nil, fault.BadRequestf("Properties disk_format, container_format must be set prior to importing data.")
	}
	from := StatusUploading
	input := map[string]any{"import_req": map[string]any{"method": map[string]any{"name": method}}, "stores": []any{storeID}}
	switch method {
	case "glance-direct":
		if img.Status != StatusUploading {
			return nil, fault.Conflictf("Image needs to be staged before 'glance-direct' method can be used")
		}
	case "web-download":
		if err := s.checkDownloadURI(req.Method.URI); err != nil {
			return nil, err
		}
		from = StatusQueued
		input["import_req"].(map[string]any)["method"].(map[string]any)["uri"] = req.Method.URI
	}
	now := s.now().UTC().Truncate(time.Second)
	t := &Task{ID: uuid.NewString(), Type: "api_image_import", Status: TaskPending, Owner: img.Owner, UserID: p.UserID,
		ImageID: id, RequestID: httpx.RequestID(ctx), Input: input, Result: map[string]any{}, CreatedAt: now, UpdatedAt: now}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE images SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2`,
			id, from, StatusImporting, now.UnixMicro())
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fault.Conflictf("Image status transition from %s to importing is not allowed", img.Status)
		}
		// Glance's reserved properties tell clients where the import goes.
		if err := s.setImportProps(ctx, tx, id, map[string]string{"os_glance_importing_to_stores": storeID}, "os_glance_failed_import"); err != nil {
			return err
		}
		return insertTask(ctx, tx, t)
	})
	if err != nil {
		return nil, err
	}
	job, _ := json.Marshal(importJob{TaskID: t.ID})
	if err := s.bus.Enqueue(ctx, importQueue, job); err != nil {
		// The task is recorded; without the queue it would never run.
		s.failImport(context.WithoutCancel(ctx), t, fmt.Sprintf("could not queue the import: %v", err))
		return nil, fault.Wrap(fault.Unavailable, err, "The import could not be queued; try again.")
	}
	return t, nil
}

// setImportProps sets and removes reserved import properties of an image.
func (s *Service) setImportProps(ctx context.Context, tx *sql.Tx, id string, set map[string]string, remove ...string) error {
	var raw string
	if err := tx.QueryRowContext(ctx, `SELECT properties FROM images WHERE id = $1`, id).Scan(&raw); err != nil {
		return err
	}
	props := map[string]string{}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &props); err != nil {
			return err
		}
	}
	for _, k := range remove {
		delete(props, k)
	}
	for k, v := range set {
		props[k] = v
	}
	data, _ := json.Marshal(props)
	_, err := tx.ExecContext(ctx, `UPDATE images SET properties = $2 WHERE id = $1`, id, string(data))
	return err
}

// taskStore is the store id an import task writes to.
func taskStore(t *Task) string {
	if list, ok := t.Input["stores"].([]any); ok && len(list) == 1 {
		if id, ok := list[0].(string); ok {
			return id
		}
	}
	return ""
}

type importJob struct {
	TaskID string `json:"task_id"`
}

// StartImportWorker runs import tasks from the bus until ctx ends. Tasks
// queued before a restart run after it: the queue is durable.
func (s *Service) StartImportWorker(ctx context.Context) (stop func(), err error) {
	if !s.importing() {
		return func() {}, nil
	}
	return s.bus.Work(ctx, importQueue, s.runImport)
}

// runImport does one task. Failures of the data (format, size, fetch)
// end the task and kill the image; failures of this process (database)
// return an error so the bus delivers the task again.
func (s *Service) runImport(ctx context.Context, body []byte) error {
	var job importJob
	if err := json.Unmarshal(body, &job); err != nil {
		return fmt.Errorf("bad import job: %w", err)
	}
	t, err := getTask(ctx, s.db, job.TaskID)
	if fault.Is(err, fault.NotFound) {
		return nil // nothing left to do
	}
	if err != nil {
		return err
	}
	if t.Status == TaskSuccess || t.Status == TaskFailure {
		return nil // already done: at-least-once delivery
	}
	if err := s.setTaskStatus(ctx, t, TaskProcessing, ""); err != nil {
		return err
	}
	img, err := getImage(ctx, s.db, t.ImageID)
	if fault.Is(err, fault.NotFound) {
		return s.setTaskStatus(ctx, t, TaskFailure, "Image was deleted during the import.")
	}
	if err != nil {
		return err
	}
	if m, _ := t.Input["import_req"].(map[string]any)["method"].(map[string]any); m["name"] == "copy-image" {
		return s.runCopy(ctx, t, img)
	}
	src, cleanup, err := s.importSource(ctx, t, img)
	if err != nil {
		s.failImport(ctx, t, err.Error())
		return nil
	}
	defer src.Close()
	maxSize, err := s.uploadCap(ctx, img.Owner)
	if err != nil {
		s.failImport(ctx, t, err.Error())
		return nil
	}
	conv, err := s.convert(ctx, img, src, maxSize)
	if err != nil {
		s.failImport(ctx, t, userMessage(err))
		return nil
	}
	defer conv.done()
	target := *img
	target.DiskFormat = &conv.format
	storeID := taskStore(t)
	if _, ok := s.stores[storeID]; !ok {
		storeID = s.defaultStore
	}
	res, err := s.stream(ctx, &target, storeID, conv.src, maxSize)
	if err != nil {
		s.failImport(ctx, t, userMessage(err))
		return nil
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE images SET status = $2, size = $3, virtual_size = $4, checksum = $5,
			os_hash_algo = 'sha512', os_hash_value = $6, store = $7, location = $8, stage_location = '', updated_at = $9,
			disk_format = $11 WHERE id = $1 AND status = $10`,
			img.ID, StatusActive, res.size, res.virtualSize, res.checksum, res.hashValue, storeID, res.location,
			s.now().UTC().Truncate(time.Second).UnixMicro(), StatusImporting, conv.format)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fault.New(fault.Gone, "Image was deleted during the import.")
		}
		if err := s.setImportProps(ctx, tx, img.ID, nil, "os_glance_importing_to_stores"); err != nil {
			return err
		}
		t.Result = map[string]any{"image_id": img.ID}
		return updateTask(ctx, tx, t, TaskSuccess, "", s.now())
	})
	if fault.Is(err, fault.Gone) {
		_ = s.stores[storeID].Delete(ctx, res.location)
		return s.setTaskStatus(ctx, t, TaskFailure, "Image was deleted during the import.")
	}
	if err != nil {
		_ = s.stores[storeID].Delete(ctx, res.location)
		return err
	}
	cleanup()
	return nil
}

// importSource opens the data a task imports, and what to delete after.
func (s *Service) importSource(ctx context.Context, t *Task, img *Image) (io.ReadCloser, func(), error) {
	method, _ := t.Input["import_req"].(map[string]any)["method"].(map[string]any)
	switch method["name"] {
	case "glance-direct":
		var loc string
		if err := s.db.QueryRowContext(ctx, `SELECT stage_location FROM images WHERE id = $1`, img.ID).Scan(&loc); err != nil {
			return nil, nil, err
		}
		if loc == "" {
			return nil, nil, errors.New("no staged data")
		}
		rc, err := s.staging.Open(ctx, loc, 0, -1)
		if err != nil {
			return nil, nil, err
		}
		return rc, func() { _ = s.staging.Delete(context.WithoutCancel(ctx), loc) }, nil
	case "web-download":
		uri, _ := method["uri"].(string)
		rc, err := s.fetch(ctx, uri)
		return rc, func() {}, err
	}
	return nil, nil, fmt.Errorf("unknown import method %v", method["name"])
}

// failImport ends a task in failure and kills its image, as the issue of
// a failed import leaves it; staged data goes too.
func (s *Service) failImport(ctx context.Context, t *Task, msg string) {
	var loc string
	_ = s.db.QueryRowContext(ctx, `SELECT stage_location FROM images WHERE id = $1`, t.ImageID).Scan(&loc)
	if loc != "" {
		_ = s.staging.Delete(ctx, loc)
	}
	// The task first, so whoever sees the image killed finds the reason.
	if err := s.setTaskStatus(ctx, t, TaskFailure, msg); err != nil {
		s.log.Error("record failed import", "task", t.ID, "err", err)
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE images SET status = $2, stage_location = '', updated_at = $3 WHERE id = $1 AND status = $4`,
			t.ImageID, StatusKilled, s.now().UTC().Truncate(time.Second).UnixMicro(), StatusImporting)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil // deleted meanwhile
		}
		return s.setImportProps(ctx, tx, t.ImageID, map[string]string{"os_glance_failed_import": cmp.Or(taskStore(t), s.defaultStore)}, "os_glance_importing_to_stores")
	})
	if err != nil {
		s.log.Error("kill image after failed import", "image", t.ImageID, "err", err)
	}
}

func userMessage(err error) string {
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind != fault.Internal {
		return fe.Msg
	}
	return "The import failed."
}

// checkDownloadURI allows http(s) URIs whose host the operator allows.
func (s *Service) checkDownloadURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fault.BadRequestf("URI for web-download must be an http or https URL.")
	}
	if u.User != nil {
		return fault.BadRequestf("URI for web-download must not carry credentials.")
	}
	if !s.hostAllowed(u.Hostname()) {
		return fault.Forbiddenf("The requested URI is not allowed for web-download.")
	}
	return nil
}

// hostAllowed matches a host name or IP against the operator's list of
// host names, IPs and CIDRs.
func (s *Service) hostAllowed(host string) bool {
	ip := net.ParseIP(host)
	for _, a := range s.cfg.WebDownloadAllowed {
		if strings.EqualFold(a, host) {
			return true
		}
		if _, cidr, err := net.ParseCIDR(a); err == nil && ip != nil && cidr.Contains(ip) {
			return true
		}
		if aip := net.ParseIP(a); aip != nil && ip != nil && aip.Equal(ip) {
			return true
		}
	}
	return false
}

// fetch GETs uri, checking every address it connects to (so DNS tricks
// and redirects cannot reach hosts the operator did not allow).
func (s *Service) fetch(ctx context.Context, uri string) (io.ReadCloser, error) {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	client := &http.Client{
		Timeout: 0, // bodies may be large; ctx bounds the work
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
				if err != nil {
					return nil, err
				}
				for _, ip := range ips {
					if s.hostAllowed(host) || s.hostAllowed(ip.String()) {
						return dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
					}
				}
				return nil, fmt.Errorf("host %s is not allowed for web-download", host)
			},
			ResponseHeaderTimeout: 30 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || s.checkDownloadURI(req.URL.String()) != nil {
				return fmt.Errorf("redirect to %s is not allowed", req.URL.Host)
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("web-download of %s failed: %w", uri, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("web-download of %s failed: HTTP %d", uri, resp.StatusCode)
	}
	return resp.Body, nil
}

func (h *handlers) stage(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/octet-stream") {
		return &fault.Error{Kind: fault.UnsupportedMediaType, Msg: "Content-Type must be application/octet-stream."}
	}
	if err := h.svc.Stage(r.Context(), principal(r), r.PathValue("id"), r.Body, r.ContentLength); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

func (h *handlers) importImage(w http.ResponseWriter, r *http.Request) error {
	var req importRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if _, err := h.svc.Import(r.Context(), principal(r), r.PathValue("id"), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
