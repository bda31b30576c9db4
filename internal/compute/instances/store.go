package instances

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// Errors a Store returns; callers turn them into the API's faults.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: the row is not in the state the caller expected
	// (Update's ExpectTask/ExpectVM), or a unique name is taken.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a Query the store cannot run (an unknown sort key or
	// direction, more directions than keys); the API answers 400.
	ErrInvalid = errors.New("invalid query")
)

// Store reads and writes the compute database's instance tables. The
// schema is part of the compute migrations (compute/migrations), run by
// compute.New or `nimbus db migrate`; New does not migrate.
type Store struct {
	db  *db.DB
	now func() time.Time
}

// New makes a Store on d.
func New(d *db.DB) *Store { return &Store{db: d, now: time.Now} }

// DB is the database, for callers that need a transaction spanning their
// own tables (quota checks) and the Store's (CreateTx).
func (s *Store) DB() *db.DB { return s.db }

// ---- instances

// instanceColumns are read by scanInstance, in its order.
const instanceColumns = `i.id, i.uuid, i.display_name, i.description, i.project_id, i.user_id, i.hostname,
	i.host, i.node, i.launched_on, i.availability_zone, i.vm_state, i.task_state, i.power_state,
	i.flavor, i.old_flavor, i.new_flavor, i.image_ref, i.key_name, i.key_data, i.key_type, i.user_data,
	i.config_drive, i.locked, i.locked_by, i.locked_reason, i.access_ip_v4, i.access_ip_v6,
	i.auto_disk_config, i.progress, i.reservation_id, i.launch_index, i.root_device_name, i.spec,
	i.shelved_image_id, i.rescue_image_ref, i.previous_vm_state, i.trusted_certs,
	i.created_at, i.updated_at, i.launched_at, i.terminated_at, i.deleted_at, i.deleted`

func scanInstance(sc interface{ Scan(...any) error }) (*Instance, error) {
	var (
		i                                     Instance
		desc, oldFlavor, newFlavor, reason    sql.NullString
		certs                                 sql.NullString
		flavor, spec                          string
		created, updated, launched, term, del int64
	)
	if err := sc.Scan(&i.ID, &i.UUID, &i.Name, &desc, &i.ProjectID, &i.UserID, &i.Hostname,
		&i.Host, &i.Node, &i.LaunchedOn, &i.AvailabilityZone, &i.VMState, &i.TaskState, &i.PowerState,
		&flavor, &oldFlavor, &newFlavor, &i.ImageRef, &i.KeyName, &i.KeyData, &i.KeyType, &i.UserData,
		&i.ConfigDrive, &i.Locked, &i.LockedBy, &reason, &i.AccessIPv4, &i.AccessIPv6,
		&i.AutoDiskConfig, &i.Progress, &i.ReservationID, &i.LaunchIndex, &i.RootDeviceName, &spec,
		&i.ShelvedImageID, &i.RescueImageRef, &i.PreviousVMState, &certs,
		&created, &updated, &launched, &term, &del, &i.Deleted); err != nil {
		return nil, err
	}
	i.Description = ptrString(desc)
	i.LockedReason = ptrString(reason)
	if err := json.Unmarshal([]byte(flavor), &i.Flavor); err != nil {
		return nil, fmt.Errorf("instance %s flavor: %w", i.UUID, err)
	}
	for _, f := range []struct {
		col sql.NullString
		dst **Flavor
	}{{oldFlavor, &i.OldFlavor}, {newFlavor, &i.NewFlavor}} {
		if f.col.Valid {
			var fl Flavor
			if err := json.Unmarshal([]byte(f.col.String), &fl); err != nil {
				return nil, fmt.Errorf("instance %s flavor: %w", i.UUID, err)
			}
			*f.dst = &fl
		}
	}
	if err := json.Unmarshal([]byte(spec), &i.Spec); err != nil {
		return nil, fmt.Errorf("instance %s request spec: %w", i.UUID, err)
	}
	if certs.Valid {
		if err := json.Unmarshal([]byte(certs.String), &i.TrustedCerts); err != nil {
			return nil, fmt.Errorf("instance %s trusted certs: %w", i.UUID, err)
		}
	}
	i.CreatedAt, i.UpdatedAt = fromMicros(created), fromMicros(updated)
	i.LaunchedAt, i.TerminatedAt, i.DeletedAt = fromMicros(launched), fromMicros(term), fromMicros(del)
	i.Metadata = map[string]string{}
	i.Tags = []string{}
	return &i, nil
}

// instanceValues are the columns an insert or an update writes (all but
// id, uuid and created_at), with their values.
func instanceValues(i *Instance) ([]string, []any, error) {
	flavor, err := json.Marshal(i.Flavor)
	if err != nil {
		return nil, nil, err
	}
	oldFlavor, err := jsonText(i.OldFlavor)
	if err != nil {
		return nil, nil, err
	}
	newFlavor, err := jsonText(i.NewFlavor)
	if err != nil {
		return nil, nil, err
	}
	spec, err := json.Marshal(i.Spec)
	if err != nil {
		return nil, nil, err
	}
	certs, err := jsonText(i.TrustedCerts)
	if err != nil {
		return nil, nil, err
	}
	changed := micros(i.UpdatedAt)
	if changed == 0 {
		changed = micros(i.CreatedAt)
	}
	var userData any
	if i.UserData != nil {
		userData = i.UserData
	}
	cols := []string{"display_name", "description", "project_id", "user_id", "hostname",
		"host", "node", "launched_on", "availability_zone", "vm_state", "task_state", "power_state",
		"flavorid", "vcpus", "memory_mb", "flavor", "old_flavor", "new_flavor",
		"image_ref", "key_name", "key_data", "key_type", "user_data",
		"config_drive", "locked", "locked_by", "locked_reason", "access_ip_v4", "access_ip_v6",
		"auto_disk_config", "progress", "reservation_id", "launch_index", "root_device_name", "spec",
		"shelved_image_id", "rescue_image_ref", "previous_vm_state", "trusted_certs",
		"updated_at", "changed_at", "launched_at", "terminated_at", "deleted_at", "deleted"}
	vals := []any{i.Name, nullString(i.Description), i.ProjectID, i.UserID, i.Hostname,
		i.Host, i.Node, i.LaunchedOn, i.AvailabilityZone, i.VMState, i.TaskState, i.PowerState,
		i.Flavor.FlavorID, i.Flavor.VCPUs, i.Flavor.MemoryMB, string(flavor), oldFlavor, newFlavor,
		i.ImageRef, i.KeyName, i.KeyData, i.KeyType, userData,
		i.ConfigDrive, i.Locked, i.LockedBy, nullString(i.LockedReason), i.AccessIPv4, i.AccessIPv6,
		i.AutoDiskConfig, i.Progress, i.ReservationID, i.LaunchIndex, i.RootDeviceName, string(spec),
		i.ShelvedImageID, i.RescueImageRef, i.PreviousVMState, certs,
		micros(i.UpdatedAt), changed, micros(i.LaunchedAt), micros(i.TerminatedAt), micros(i.DeletedAt), i.Deleted}
	return cols, vals, nil
}

// CreateTx inserts inst (UUID, CreatedAt set by the caller; ID is filled
// in), its metadata and tags, and its "create" action, in tx, so the
// caller can check quota in the same transaction. A zero CreatedAt
// becomes now; the action's instance is inst, its start time inst's
// creation unless set, and its name "create" unless set. A UUID taken is
// ErrConflict.
func (s *Store) CreateTx(ctx context.Context, tx *sql.Tx, inst *Instance, action Action) error {
	if inst.CreatedAt.IsZero() {
		inst.CreatedAt = s.now()
	}
	inst.CreatedAt = inst.CreatedAt.UTC().Truncate(time.Microsecond)
	cq := s.db.Cached(tx)
	cols, vals, err := instanceValues(inst)
	if err != nil {
		return fmt.Errorf("create instance %s: %w", inst.UUID, err)
	}
	var a args
	ph := make([]string, 0, len(vals)+2)
	ph = append(ph, a.add(inst.UUID), a.add(micros(inst.CreatedAt)))
	for _, v := range vals {
		ph = append(ph, a.add(v))
	}
	q := `INSERT INTO instances (uuid, created_at, ` + strings.Join(cols, ", ") + `) VALUES (` +
		strings.Join(ph, ", ") + `) RETURNING id`
	if err := cq.QueryRowContext(ctx, q, a...).Scan(&inst.ID); err != nil {
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("create instance %s: %w", inst.UUID, ErrConflict)
		}
		return fmt.Errorf("create instance %s: %w", inst.UUID, err)
	}
	if inst.Metadata == nil {
		inst.Metadata = map[string]string{}
	}
	if err := insertMetadata(ctx, cq, inst.ID, inst.Metadata); err != nil {
		return fmt.Errorf("create instance %s: %w", inst.UUID, err)
	}
	inst.Tags = normTags(inst.Tags)
	if err := insertTags(ctx, cq, inst.ID, inst.Tags); err != nil {
		return fmt.Errorf("create instance %s: %w", inst.UUID, err)
	}
	action.UUID = inst.UUID
	if action.Action == "" {
		action.Action = "create"
	}
	if action.StartTime.IsZero() {
		action.StartTime = inst.CreatedAt
	}
	if action.ProjectID == "" {
		action.ProjectID = inst.ProjectID
	}
	if action.UserID == "" {
		action.UserID = inst.UserID
	}
	if err := insertAction(ctx, cq, &action); err != nil {
		return fmt.Errorf("create instance %s: %w", inst.UUID, err)
	}
	return nil
}

// normTags sorts tags and drops repeats; never nil.
func normTags(tags []string) []string {
	out := slices.Clone(tags)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func insertMetadata(ctx context.Context, q querier, id int64, md map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(md)) {
		if _, err := q.ExecContext(ctx, `INSERT INTO instance_metadata (instance_id, key, value) VALUES ($1, $2, $3)
			ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value`, id, k, md[k]); err != nil {
			return fmt.Errorf("metadata %q: %w", k, err)
		}
	}
	return nil
}

func insertTags(ctx context.Context, q querier, id int64, tags []string) error {
	for _, t := range tags {
		if _, err := q.ExecContext(ctx, `INSERT INTO instance_tags (instance_id, tag) VALUES ($1, $2)
			ON CONFLICT (instance_id, tag) DO NOTHING`, id, t); err != nil {
			return fmt.Errorf("tag %q: %w", t, err)
		}
	}
	return nil
}

// Get returns an instance, not deleted unless withDeleted, with its
// metadata, tags and newest fault.
func (s *Store) Get(ctx context.Context, uuid string, withDeleted bool) (*Instance, error) {
	inst, err := getInstance(ctx, s.db, uuid, withDeleted, "")
	if err != nil {
		return nil, err
	}
	if err := fill(ctx, s.db, s.db.Engine, []*Instance{inst}); err != nil {
		return nil, fmt.Errorf("get instance %s: %w", uuid, err)
	}
	return inst, nil
}

// getInstance reads the instance row alone; lock is appended to the
// query (forUpdate).
func getInstance(ctx context.Context, q querier, uuid string, withDeleted bool, lock string) (*Instance, error) {
	query := `SELECT ` + instanceColumns + ` FROM instances i WHERE i.uuid = $1`
	if !withDeleted {
		query += ` AND i.deleted = FALSE`
	}
	inst, err := scanInstance(q.QueryRowContext(ctx, query+lock, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("instance %s: %w", uuid, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get instance %s: %w", uuid, err)
	}
	return inst, nil
}

// showsFault: Nova shows the fault of servers in ERROR and DELETED.
func showsFault(vmState string) bool { return vmState == Error || vmState == Deleted }

// fill reads the metadata, tags and (where shown) newest fault of
// instances: three queries however many instances, their ids passed as
// one JSON array (a long IN list costs more to parse than to run).
func fill(ctx context.Context, q querier, eng db.Engine, list []*Instance) error {
	if len(list) == 0 {
		return nil
	}
	byID := make(map[int64]*Instance, len(list))
	byUUID := map[string]*Instance{}
	ids := make([]int64, 0, len(list))
	var faulty []string
	for _, i := range list {
		byID[i.ID] = i
		ids = append(ids, i.ID)
		if showsFault(i.VMState) {
			byUUID[i.UUID] = i
			faulty = append(faulty, i.UUID)
		}
	}
	in, arg, err := inList(eng, ids)
	if err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, `SELECT instance_id, key, value FROM instance_metadata WHERE instance_id IN `+in, arg)
	if err != nil {
		return fmt.Errorf("read metadata: %w", err)
	}
	for rows.Next() {
		var id int64
		var k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			rows.Close()
			return fmt.Errorf("read metadata: %w", err)
		}
		byID[id].Metadata[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read metadata: %w", err)
	}
	rows, err = q.QueryContext(ctx, `SELECT instance_id, tag FROM instance_tags WHERE instance_id IN `+in+` ORDER BY instance_id, tag`, arg)
	if err != nil {
		return fmt.Errorf("read tags: %w", err)
	}
	for rows.Next() {
		var id int64
		var t string
		if err := rows.Scan(&id, &t); err != nil {
			rows.Close()
			return fmt.Errorf("read tags: %w", err)
		}
		byID[id].Tags = append(byID[id].Tags, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read tags: %w", err)
	}
	if len(faulty) == 0 {
		return nil
	}
	in, arg, err = inList(eng, faulty)
	if err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT instance_uuid, code, message, details, created_at FROM instance_faults
		WHERE instance_uuid IN `+in+` ORDER BY instance_uuid, created_at DESC, id DESC`, arg)
	if err != nil {
		return fmt.Errorf("read faults: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uuid string
		var f Fault
		var created int64
		if err := rows.Scan(&uuid, &f.Code, &f.Message, &f.Details, &created); err != nil {
			return fmt.Errorf("read faults: %w", err)
		}
		if i := byUUID[uuid]; i.Fault == nil {
			f.Created = fromMicros(created)
			i.Fault = &f
		}
	}
	return wrap("read faults", rows.Err())
}

// newestFault is an instance's newest fault whatever its state, nil if
// none.
func newestFault(ctx context.Context, q querier, uuid string) (*Fault, error) {
	var f Fault
	var created int64
	err := q.QueryRowContext(ctx, `SELECT code, message, details, created_at FROM instance_faults
		WHERE instance_uuid = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, uuid).Scan(&f.Code, &f.Message, &f.Details, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f.Created = fromMicros(created)
	return &f, nil
}

// Update changes an instance: it reads it, calls change on the copy, and
// writes back every field change touched (UpdatedAt set by the store),
// in one transaction. When ExpectTask is non-nil the instance's task
// state must be one of them ("" for None) and when ExpectVM is non-nil
// its vm state must be one of them, else ErrConflict (nothing written),
// as Nova's instance.save(expected_task_state=...). A deleted instance
// is ErrNotFound. Returns the instance as written.
//
// Metadata and Tags changed by change are written too, and a Fault that
// change sets (a new value, not the one read) is recorded as a new
// fault, so that ERROR and its reason land together. An error from
// change is returned as it is, with nothing written.
func (s *Store) Update(ctx context.Context, uuid string, g Guard, change func(*Instance) error) (*Instance, error) {
	return s.UpdateRecording(ctx, uuid, g, nil, change)
}

// UpdateRecording is Update that also records evs (RecordEvents) in the
// same transaction, and only if the update is written.
func (s *Store) UpdateRecording(ctx context.Context, uuid string, g Guard, evs []EventWrite, change func(*Instance) error) (*Instance, error) {
	var out *Instance
	err := s.db.Tx(ctx, func(sqltx *sql.Tx) error {
		tx := s.db.Cached(sqltx)
		inst, err := getInstance(ctx, tx, uuid, false, forUpdate(s.db))
		if err != nil {
			return err
		}
		if err := fill(ctx, tx, s.db.Engine, []*Instance{inst}); err != nil {
			return err
		}
		if g.ExpectTask != nil && !slices.Contains(g.ExpectTask, inst.TaskState) {
			return fmt.Errorf("instance %s in task state %q: %w", uuid, inst.TaskState, ErrConflict)
		}
		if g.ExpectVM != nil && !slices.Contains(g.ExpectVM, inst.VMState) {
			return fmt.Errorf("instance %s in vm state %q: %w", uuid, inst.VMState, ErrConflict)
		}
		id := inst.ID
		oldMD, oldTags := maps.Clone(inst.Metadata), slices.Clone(inst.Tags)
		var oldFault Fault
		if inst.Fault != nil {
			oldFault = *inst.Fault
		}
		oldFaultPtr := inst.Fault
		_, before, err := instanceValues(inst)
		if err != nil {
			return fmt.Errorf("update instance %s: %w", uuid, err)
		}
		if err := change(inst); err != nil {
			return err
		}
		inst.ID, inst.UUID = id, uuid
		inst.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
		cols, vals, err := instanceValues(inst)
		if err != nil {
			return fmt.Errorf("update instance %s: %w", uuid, err)
		}
		// Only the columns that changed (updated_at nearly always does):
		// the indexes and triggers of the others are then left alone.
		var a args
		var set []string
		for n, c := range cols {
			if !reflect.DeepEqual(before[n], vals[n]) {
				set = append(set, c+" = "+a.add(vals[n]))
			}
		}
		if len(set) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE instances SET `+strings.Join(set, ", ")+` WHERE id = `+a.add(id), a...); err != nil {
				return fmt.Errorf("update instance %s: %w", uuid, err)
			}
		}
		if inst.Metadata == nil {
			inst.Metadata = map[string]string{}
		}
		if !maps.Equal(oldMD, inst.Metadata) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM instance_metadata WHERE instance_id = $1`, id); err != nil {
				return fmt.Errorf("update instance %s metadata: %w", uuid, err)
			}
			if err := insertMetadata(ctx, tx, id, inst.Metadata); err != nil {
				return fmt.Errorf("update instance %s: %w", uuid, err)
			}
		}
		inst.Tags = normTags(inst.Tags)
		if !slices.Equal(oldTags, inst.Tags) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM instance_tags WHERE instance_id = $1`, id); err != nil {
				return fmt.Errorf("update instance %s tags: %w", uuid, err)
			}
			if err := insertTags(ctx, tx, id, inst.Tags); err != nil {
				return fmt.Errorf("update instance %s: %w", uuid, err)
			}
		}
		if f := inst.Fault; f != nil && (f != oldFaultPtr || *f != oldFault) {
			if f.Created.IsZero() {
				f.Created = inst.UpdatedAt
			}
			if err := insertFault(ctx, tx, uuid, *f); err != nil {
				return fmt.Errorf("update instance %s: %w", uuid, err)
			}
		}
		if !showsFault(inst.VMState) {
			inst.Fault = nil
		} else if inst.Fault == nil {
			// Entering ERROR without a new fault: show the newest one.
			if inst.Fault, err = newestFault(ctx, tx, uuid); err != nil {
				return fmt.Errorf("update instance %s: %w", uuid, err)
			}
		}
		out = inst
		return s.recordEvents(ctx, tx, uuid, evs)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Guard is what Update checks before changing an instance.
type Guard struct {
	ExpectTask []string // nil = any
	ExpectVM   []string // nil = any
}

// Destroy marks an instance deleted (vm_state deleted, deleted_at,
// terminated_at, task state None, power state NoState): Nova's soft
// "deleted" row, still listed with deleted=true and changes-since. Its
// server group membership goes.
func (s *Store) Destroy(ctx context.Context, uuid string) (*Instance, error) {
	var out *Instance
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		inst, err := getInstance(ctx, tx, uuid, false, forUpdate(s.db))
		if err != nil {
			return err
		}
		now := micros(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE instances SET vm_state = $1, task_state = '', power_state = $2,
			deleted = TRUE, deleted_at = $3, terminated_at = $3, updated_at = $3, changed_at = $3 WHERE id = $4`,
			Deleted, PowerNoState, now, inst.ID); err != nil {
			return fmt.Errorf("destroy instance %s: %w", uuid, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM server_group_members WHERE instance_uuid = $1`, uuid); err != nil {
			return fmt.Errorf("destroy instance %s: leave server group: %w", uuid, err)
		}
		if out, err = getInstance(ctx, tx, uuid, true, ""); err != nil {
			return err
		}
		return fill(ctx, tx, s.db.Engine, []*Instance{out})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// liveID is the internal id of an instance not deleted, or ErrNotFound.
func liveID(ctx context.Context, q querier, uuid string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM instances WHERE uuid = $1 AND deleted = FALSE`, uuid).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("instance %s: %w", uuid, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("find instance %s: %w", uuid, err)
	}
	return id, nil
}

// SetMetadata replaces (replace=true) or merges the instance's metadata;
// DeleteMetadataKey removes one key (ErrNotFound when absent).
func (s *Store) SetMetadata(ctx context.Context, uuid string, md map[string]string, replace bool) (map[string]string, error) {
	out := map[string]string{}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err := liveID(ctx, tx, uuid)
		if err != nil {
			return err
		}
		if replace {
			if _, err := tx.ExecContext(ctx, `DELETE FROM instance_metadata WHERE instance_id = $1`, id); err != nil {
				return fmt.Errorf("set metadata of %s: %w", uuid, err)
			}
		}
		if err := insertMetadata(ctx, tx, id, md); err != nil {
			return fmt.Errorf("set metadata of %s: %w", uuid, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT key, value FROM instance_metadata WHERE instance_id = $1`, id)
		if err != nil {
			return fmt.Errorf("read metadata of %s: %w", uuid, err)
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return fmt.Errorf("read metadata of %s: %w", uuid, err)
			}
			out[k] = v
		}
		return wrap("read metadata of "+uuid, rows.Err())
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) DeleteMetadataKey(ctx context.Context, uuid, key string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err := liveID(ctx, tx, uuid)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM instance_metadata WHERE instance_id = $1 AND key = $2`, id, key)
		if err != nil {
			return fmt.Errorf("delete metadata %q of %s: %w", key, uuid, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("metadata %q of %s: %w", key, uuid, ErrNotFound)
		}
		return nil
	})
}

// SetTags replaces the tags; AddTag adds one (no error if present);
// DeleteTag removes one (ErrNotFound when absent).
func (s *Store) SetTags(ctx context.Context, uuid string, tags []string) ([]string, error) {
	tags = normTags(tags)
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err := liveID(ctx, tx, uuid)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM instance_tags WHERE instance_id = $1`, id); err != nil {
			return fmt.Errorf("set tags of %s: %w", uuid, err)
		}
		return wrap("set tags of "+uuid, insertTags(ctx, tx, id, tags))
	})
	if err != nil {
		return nil, err
	}
	return tags, nil
}

func (s *Store) AddTag(ctx context.Context, uuid, tag string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err := liveID(ctx, tx, uuid)
		if err != nil {
			return err
		}
		return wrap("add tag to "+uuid, insertTags(ctx, tx, id, []string{tag}))
	})
}

func (s *Store) DeleteTag(ctx context.Context, uuid, tag string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		id, err := liveID(ctx, tx, uuid)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM instance_tags WHERE instance_id = $1 AND tag = $2`, id, tag)
		if err != nil {
			return fmt.Errorf("delete tag %q of %s: %w", tag, uuid, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("tag %q of %s: %w", tag, uuid, ErrNotFound)
		}
		return nil
	})
}

// AddFault records a fault against an instance (deleted ones too; a
// zero Created is now). An unknown instance is ErrNotFound.
func (s *Store) AddFault(ctx context.Context, uuid string, f Fault) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM instances WHERE uuid = $1`, uuid).Scan(&n); err != nil {
		return fmt.Errorf("add fault to %s: %w", uuid, err)
	}
	if n == 0 {
		return fmt.Errorf("instance %s: %w", uuid, ErrNotFound)
	}
	if f.Created.IsZero() {
		f.Created = s.now()
	}
	return wrap("add fault to "+uuid, insertFault(ctx, s.db, uuid, f))
}

func insertFault(ctx context.Context, q querier, uuid string, f Fault) error {
	_, err := q.ExecContext(ctx, `INSERT INTO instance_faults (instance_uuid, code, message, details, created_at)
		VALUES ($1, $2, $3, $4, $5)`, uuid, f.Code, f.Message, f.Details, micros(f.Created))
	return err
}

// CountUsage is what a project (and a user in it, when userID != "")
// holds: instances, cores and ram of instances not deleted (Nova counts
// every non-deleted instance, shelved offloaded ones included), as the
// triggers of migration 0004 keep it in instance_usage.
func (s *Store) CountUsage(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, projectID, userID string) (instances, cores, ram int64, err error) {
	if q == nil {
		q = s.db
	}
	query := `SELECT COALESCE(SUM(instances), 0), COALESCE(SUM(cores), 0), COALESCE(SUM(ram), 0) FROM instance_usage
		WHERE project_id = $1`
	a := []any{projectID}
	if userID != "" {
		query += ` AND user_id = $2`
		a = append(a, userID)
	}
	if err := q.QueryRowContext(ctx, query, a...).Scan(&instances, &cores, &ram); err != nil {
		return 0, 0, 0, fmt.Errorf("count usage of %s: %w", projectID, err)
	}
	return instances, cores, ram, nil
}
