package instances

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ---- actions

const actionColumns = `a.id, a.action, a.instance_uuid, a.request_id, a.user_id, a.project_id, a.start_time, a.updated_at, a.message`

func scanAction(sc interface{ Scan(...any) error }) (Action, error) {
	var a Action
	var start, updated int64
	err := sc.Scan(&a.ID, &a.Action, &a.UUID, &a.RequestID, &a.UserID, &a.ProjectID, &start, &updated, &a.Message)
	a.StartTime, a.UpdatedAt = fromMicros(start), fromMicros(updated)
	return a, err
}

func insertAction(ctx context.Context, q querier, a *Action) error {
	return q.QueryRowContext(ctx, `INSERT INTO instance_actions (action, instance_uuid, request_id, user_id, project_id,
		start_time, updated_at, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		a.Action, a.UUID, a.RequestID, a.UserID, a.ProjectID, micros(a.StartTime), micros(a.UpdatedAt), a.Message).Scan(&a.ID)
}

// StartAction records a new action (its ID is filled in; a zero
// StartTime is now).
func (s *Store) StartAction(ctx context.Context, a *Action) error {
	if a.StartTime.IsZero() {
		a.StartTime = s.now().UTC().Truncate(time.Microsecond)
	}
	return wrap("start action "+a.Action+" on "+a.UUID, insertAction(ctx, s.db, a))
}

// findAction is the newest action of uuid with requestID, or ErrNotFound.
func findAction(ctx context.Context, q querier, uuid, requestID, lock string) (Action, error) {
	a, err := scanAction(q.QueryRowContext(ctx, `SELECT `+actionColumns+` FROM instance_actions a
		WHERE a.instance_uuid = $1 AND a.request_id = $2 ORDER BY a.start_time DESC, a.id DESC LIMIT 1`+lock, uuid, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("action %s of instance %s: %w", requestID, uuid, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("find action %s of instance %s: %w", requestID, uuid, err)
	}
	return a, nil
}

// EventWrite is one write to an event of the newest action of an
// instance with RequestID: its start (Finish zero), its finish (Start
// zero), or both at once. Result is "Success" or "Error" (then the
// action's message becomes "Error"). A finish goes to the newest
// unfinished event of that name; with none, it records the event as
// started when it finished (a conductor that lost the start still leaves
// the outcome).
type EventWrite struct {
	RequestID, Event, Host     string
	Start, Finish              time.Time
	Result, Traceback, Details string
}

// StartEvent and FinishEvent record one step of the newest action of the
// instance with requestID, now. Either moves the action's UpdatedAt. No
// such action is ErrNotFound.
func (s *Store) StartEvent(ctx context.Context, uuid, requestID, event, host string) error {
	return s.RecordEvents(ctx, uuid, []EventWrite{{RequestID: requestID, Event: event, Host: host, Start: s.now()}})
}

func (s *Store) FinishEvent(ctx context.Context, uuid, requestID, event, result, traceback, details string) error {
	return s.RecordEvents(ctx, uuid, []EventWrite{{RequestID: requestID, Event: event, Finish: s.now(),
		Result: result, Traceback: traceback, Details: details}})
}

// RecordEvents writes evs, in order, in one transaction.
func (s *Store) RecordEvents(ctx context.Context, uuid string, evs []EventWrite) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.recordEvents(ctx, s.db.Cached(tx), uuid, evs) })
}

func (s *Store) recordEvents(ctx context.Context, tx querier, uuid string, evs []EventWrite) error {
	// Each action is looked up once and its updated_at and message
	// written once, after its last event.
	for len(evs) > 0 {
		n := 1
		for n < len(evs) && evs[n].RequestID == evs[0].RequestID {
			n++
		}
		if err := s.recordActionEvents(ctx, tx, uuid, evs[:n]); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

// recordActionEvents records evs, events of one action.
func (s *Store) recordActionEvents(ctx context.Context, tx querier, uuid string, evs []EventWrite) error {
	a, err := findAction(ctx, tx, uuid, evs[0].RequestID, forUpdate(s.db))
	if err != nil {
		return err
	}
	var last int64
	message := a.Message
	for _, e := range evs {
		what := "event " + e.Event + " of " + uuid
		start, finish := micros(e.Start), micros(e.Finish)
		var id int64
		if e.Start.IsZero() {
			err = tx.QueryRowContext(ctx, `SELECT id FROM instance_action_events WHERE action_id = $1 AND event = $2
				AND finish_time = 0 ORDER BY id DESC LIMIT 1`, a.ID, e.Event).Scan(&id)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("finish %s: %w", what, err)
			}
			start = finish
		}
		if id != 0 {
			_, err = tx.ExecContext(ctx, `UPDATE instance_action_events SET finish_time = $1, result = $2, traceback = $3,
				details = $4 WHERE id = $5`, finish, e.Result, e.Traceback, e.Details, id)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO instance_action_events (action_id, event, host, start_time, finish_time,
				result, traceback, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				a.ID, e.Event, e.Host, start, finish, e.Result, e.Traceback, e.Details)
		}
		if err != nil {
			return fmt.Errorf("record %s: %w", what, err)
		}
		if strings.EqualFold(e.Result, "error") {
			message = "Error"
		}
		last = max(last, start, finish)
	}
	_, err = tx.ExecContext(ctx, `UPDATE instance_actions SET updated_at = $1, message = $2 WHERE id = $3`,
		last, message, a.ID)
	return wrap("record events of "+uuid, err)
}

// ListActions returns an instance's actions, newest first, without
// events (even of a deleted instance); limit/marker (request id) and
// changes-since/before (2.58, 2.66) on the action's last change (its
// start while no event has moved it).
func (s *Store) ListActions(ctx context.Context, uuid string, limit int, marker string, since, before time.Time) ([]Action, error) {
	var a args
	conds := []string{"a.instance_uuid = " + a.add(uuid)}
	changed := "(CASE WHEN a.updated_at = 0 THEN a.start_time ELSE a.updated_at END)"
	if !since.IsZero() {
		conds = append(conds, changed+" >= "+a.add(micros(since)))
	}
	if !before.IsZero() {
		conds = append(conds, changed+" <= "+a.add(micros(before)))
	}
	if marker != "" {
		m, err := findAction(ctx, s.db, uuid, marker, "")
		if err != nil {
			return nil, err
		}
		st := a.add(micros(m.StartTime))
		conds = append(conds, "(a.start_time < "+st+" OR (a.start_time = "+st+" AND a.id < "+a.add(m.ID)+"))")
	}
	query := `SELECT ` + actionColumns + ` FROM instance_actions a WHERE ` + strings.Join(conds, " AND ") +
		` ORDER BY a.start_time DESC, a.id DESC`
	if limit > 0 {
		query += ` LIMIT ` + a.add(limit)
	}
	rows, err := s.db.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("list actions of %s: %w", uuid, err)
	}
	defer rows.Close()
	out := []Action{}
	for rows.Next() {
		act, err := scanAction(rows)
		if err != nil {
			return nil, fmt.Errorf("list actions of %s: %w", uuid, err)
		}
		out = append(out, act)
	}
	return out, wrap("list actions of "+uuid, rows.Err())
}

// GetAction returns one action with its events, newest first as Nova
// lists them.
func (s *Store) GetAction(ctx context.Context, uuid, requestID string) (*Action, error) {
	a, err := findAction(ctx, s.db, uuid, requestID, "")
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT event, host, start_time, finish_time, result, traceback, details
		FROM instance_action_events WHERE action_id = $1 ORDER BY start_time DESC, id DESC`, a.ID)
	if err != nil {
		return nil, fmt.Errorf("read events of %s: %w", uuid, err)
	}
	defer rows.Close()
	a.Events = []Event{}
	for rows.Next() {
		var e Event
		var start, finish int64
		if err := rows.Scan(&e.Event, &e.Host, &start, &finish, &e.Result, &e.Traceback, &e.Details); err != nil {
			return nil, fmt.Errorf("read events of %s: %w", uuid, err)
		}
		e.StartTime, e.FinishTime = fromMicros(start), fromMicros(finish)
		a.Events = append(a.Events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events of %s: %w", uuid, err)
	}
	return &a, nil
}
