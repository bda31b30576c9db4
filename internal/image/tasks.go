package image

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// Task statuses, as Glance's.
const (
	TaskPending    = "pending"
	TaskProcessing = "processing"
	TaskSuccess    = "success"
	TaskFailure    = "failure"
)

// taskLifetime is how long a finished task is shown (Glance's
// task_time_to_live, 48 hours).
const taskLifetime = 48 * time.Hour

// Task is an asynchronous image operation, an import here.
type Task struct {
	ID, Type, Status, Owner, UserID, ImageID, RequestID, Message string
	Input, Result                                                map[string]any
	CreatedAt, UpdatedAt                                         time.Time
	ExpiresAt                                                    *time.Time
}

const taskColumns = `id, type, status, owner, user_id, image_id, request_id, input, result, message, created_at, updated_at, expires_at`

func scanTask(row interface{ Scan(...any) error }) (*Task, error) {
	var t Task
	var input, result string
	var created, updated int64
	var expires sql.NullInt64
	if err := row.Scan(&t.ID, &t.Type, &t.Status, &t.Owner, &t.UserID, &t.ImageID, &t.RequestID, &input, &result,
		&t.Message, &created, &updated, &expires); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(input), &t.Input)
	_ = json.Unmarshal([]byte(result), &t.Result)
	t.CreatedAt, t.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	if expires.Valid {
		e := time.UnixMicro(expires.Int64).UTC()
		t.ExpiresAt = &e
	}
	return &t, nil
}

func insertTask(ctx context.Context, q queryer, t *Task) error {
	input, _ := json.Marshal(t.Input)
	result, _ := json.Marshal(t.Result)
	_, err := q.ExecContext(ctx, `INSERT INTO tasks (`+taskColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL)`,
		t.ID, t.Type, t.Status, t.Owner, t.UserID, t.ImageID, t.RequestID, string(input), string(result), t.Message,
		t.CreatedAt.UnixMicro(), t.UpdatedAt.UnixMicro())
	return err
}

func getTask(ctx context.Context, q queryer, id string) (*Task, error) {
	t, err := scanTask(q.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Task with the given id %s was not found.", id)
	}
	return t, err
}

// updateTask records a new status; finished tasks get an expiry.
func updateTask(ctx context.Context, q queryer, t *Task, status, message string, now time.Time) error {
	t.Status, t.Message, t.UpdatedAt = status, message, now.UTC().Truncate(time.Second)
	var expires sql.NullInt64
	if status == TaskSuccess || status == TaskFailure {
		e := t.UpdatedAt.Add(taskLifetime)
		t.ExpiresAt = &e
		expires = sql.NullInt64{Int64: e.UnixMicro(), Valid: true}
	}
	result, _ := json.Marshal(t.Result)
	_, err := q.ExecContext(ctx, `UPDATE tasks SET status = $2, message = $3, result = $4, updated_at = $5, expires_at = $6 WHERE id = $1`,
		t.ID, status, message, string(result), t.UpdatedAt.UnixMicro(), expires)
	return err
}

func (s *Service) setTaskStatus(ctx context.Context, t *Task, status, message string) error {
	return updateTask(ctx, s.db, t, status, message, s.now())
}

func (s *Service) queryTasks(ctx context.Context, query string, args ...any) ([]*Task, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+taskColumns+` FROM tasks `+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ImageTasks lists the tasks of an image the caller may see.
func (s *Service) ImageTasks(ctx context.Context, p *authn.Principal, id string) ([]*Task, error) {
	img, err := s.visibleImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "get_image", target(img)); err != nil {
		return nil, err
	}
	return s.queryTasks(ctx, `WHERE image_id = $1 ORDER BY created_at DESC`, id)
}

// ListTasks lists the caller project's tasks (all for an admin).
func (s *Service) ListTasks(ctx context.Context, p *authn.Principal) ([]*Task, error) {
	if isAdmin(s, p) {
		return s.queryTasks(ctx, `ORDER BY created_at DESC`)
	}
	return s.queryTasks(ctx, `WHERE owner = $1 ORDER BY created_at DESC`, p.ProjectID)
}

// GetTask shows one task of the caller's project.
func (s *Service) GetTask(ctx context.Context, p *authn.Principal, id string) (*Task, error) {
	t, err := getTask(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if t.Owner != p.ProjectID && !isAdmin(s, p) {
		return nil, fault.NotFoundf("Task with the given id %s was not found.", id)
	}
	return t, nil
}

func taskWire(t *Task) map[string]any {
	m := map[string]any{"id": t.ID, "type": t.Type, "status": t.Status, "owner": t.Owner, "user_id": t.UserID,
		"image_id": t.ImageID, "request_id": t.RequestID, "input": t.Input, "result": t.Result, "message": t.Message,
		"created_at": t.CreatedAt.Format(timeFormat), "updated_at": t.UpdatedAt.Format(timeFormat),
		"self": "/v2/tasks/" + t.ID, "schema": "/v2/schemas/task", "expires_at": nil}
	if t.ExpiresAt != nil {
		m["expires_at"] = t.ExpiresAt.Format(timeFormat)
	}
	return m
}

func (h *handlers) imageTasks(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.svc.ImageTasks(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"tasks": tasksWire(ts)})
}

func (h *handlers) listTasks(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.svc.ListTasks(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"tasks": tasksWire(ts), "schema": "/v2/schemas/tasks", "first": "/v2/tasks"})
}

func (h *handlers) getTask(w http.ResponseWriter, r *http.Request) error {
	t, err := h.svc.GetTask(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, taskWire(t))
}

func tasksWire(ts []*Task) []any {
	out := make([]any, 0, len(ts))
	for _, t := range ts {
		out = append(out, taskWire(t))
	}
	return out
}

var taskSchema = map[string]any{
	"name": "task",
	"properties": map[string]any{
		"id":         map[string]any{"type": "string", "description": "An identifier for the task"},
		"type":       map[string]any{"type": "string", "description": "The type of task represented by this content", "enum": []any{"import", "api_image_import"}},
		"status":     map[string]any{"type": "string", "description": "The current status of this task", "enum": []any{"pending", "processing", "success", "failure"}},
		"input":      map[string]any{"type": []any{"null", "object"}, "description": "The parameters required by task"},
		"result":     map[string]any{"type": []any{"null", "object"}, "description": "The result of current task"},
		"owner":      map[string]any{"type": "string", "description": "An identifier for the owner of this task"},
		"message":    map[string]any{"type": "string", "description": "Human-readable informative message only included when appropriate"},
		"image_id":   map[string]any{"type": "string", "description": "Image associated with the task"},
		"request_id": map[string]any{"type": "string", "description": "Request ID associated with the task"},
		"user_id":    map[string]any{"type": "string", "description": "User associated with the task"},
		"expires_at": map[string]any{"type": []any{"null", "string"}, "description": "Datetime when this resource would be subject to removal"},
		"created_at": map[string]any{"type": "string", "description": "Datetime when this resource was created"},
		"updated_at": map[string]any{"type": "string", "description": "Datetime when this resource was updated"},
		"self":       map[string]any{"type": "string"},
		"schema":     map[string]any{"type": "string"},
	},
}

var tasksSchema = map[string]any{
	"name": "tasks",
	"properties": map[string]any{
		"tasks":  map[string]any{"type": "array", "items": taskSchema},
		"schema": map[string]any{"type": "string"},
		"first":  map[string]any{"type": "string"},
		"next":   map[string]any{"type": "string"},
	},
}
