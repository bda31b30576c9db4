package instances

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// ---- migrations (os-migrations), derived from instance actions

// Migration is a resize as os-migrations shows it. Resizes happen in
// place here, so a migration is read off the server's actions: a
// "resize" action, ended by a later confirmResize or revertResize.
type Migration struct {
	ID           int64  // the resize action's id
	UUID         string // derived from the id, stable
	InstanceUUID string
	Type         string // "resize"
	Status       string // "pre-migrating", "migrating", "finished", "confirmed", "reverted", "error"
	Host         string // source and destination: the same host
	Node         string
	UserID       string
	ProjectID    string
	CreatedAt    time.Time
	UpdatedAt    time.Time // zero if never
}

// migrationSpace names the UUIDs of migrations derived from actions.
var migrationSpace = uuid.MustParse("6d1b5a3c-8f0e-4a47-9a57-3f0b0c1e2d4a")

// Migrations lists every resize of every server (deleted ones too),
// oldest first.
func (s *Store) Migrations(ctx context.Context) ([]Migration, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT a.id, a.action, a.instance_uuid, a.user_id, a.project_id, a.start_time,
		a.updated_at, a.message, i.host, i.node, i.vm_state, i.task_state
		FROM instance_actions a JOIN instances i ON i.uuid = a.instance_uuid
		WHERE a.action IN ('resize', 'confirmResize', 'revertResize')
		ORDER BY a.instance_uuid, a.start_time, a.id`)
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	defer rows.Close()
	type row struct {
		Migration
		action, message, vm, task string
	}
	var list []row
	for rows.Next() {
		var r row
		var start, updated int64
		if err := rows.Scan(&r.ID, &r.action, &r.InstanceUUID, &r.UserID, &r.ProjectID, &start, &updated, &r.message,
			&r.Host, &r.Node, &r.vm, &r.task); err != nil {
			return nil, fmt.Errorf("list migrations: %w", err)
		}
		r.CreatedAt, r.UpdatedAt = fromMicros(start), fromMicros(updated)
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	out := []Migration{}
	for i, r := range list {
		if r.action != "resize" {
			continue
		}
		m := r.Migration
		m.Type = "resize"
		m.UUID = uuid.NewSHA1(migrationSpace, []byte(strconv.FormatInt(m.ID, 10))).String()
		var next *row
		if i+1 < len(list) && list[i+1].InstanceUUID == r.InstanceUUID {
			next = &list[i+1]
		}
		switch {
		case next != nil && next.action == "revertResize":
			m.Status = "reverted"
			m.UpdatedAt = next.CreatedAt
		case next != nil:
			m.Status = "confirmed"
			m.UpdatedAt = next.CreatedAt
		case r.message == "Error":
			m.Status = "error"
		case r.vm == Resized:
			m.Status = "finished"
		case r.task == TaskResizePrep:
			m.Status = "pre-migrating"
		case r.task == TaskResizeMigrating || r.task == TaskResizeMigrated || r.task == TaskResizeFinish:
			m.Status = "migrating"
		default:
			m.Status = "error"
		}
		out = append(out, m)
	}
	return out, nil
}
