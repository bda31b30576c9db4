package instances

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// ---- services and compute nodes

const serviceColumns = `id, uuid, host, service_binary, topic, disabled, disabled_reason, forced_down,
	last_seen_up, report_interval, version, created_at, updated_at`

func scanService(sc interface{ Scan(...any) error }) (*Service, error) {
	var v Service
	var reason sql.NullString
	var seen, interval, created, updated int64
	if err := sc.Scan(&v.ID, &v.UUID, &v.Host, &v.Binary, &v.Topic, &v.Disabled, &reason, &v.ForcedDown,
		&seen, &interval, &v.Version, &created, &updated); err != nil {
		return nil, err
	}
	v.DisabledReason = ptrString(reason)
	v.LastSeenUp = fromMicros(seen)
	v.ReportInterval = time.Duration(interval) * time.Microsecond
	v.CreatedAt, v.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &v, nil
}

// Heartbeat records a service's heartbeat: it creates the service (host,
// binary) on its first one, else sets LastSeenUp (and ReportInterval).
// created tells whether it is new. A beat is one UPDATE; the INSERT
// runs only for a service not yet known. UpdatedAt moves with every
// beat, as Nova's service record does. Each is a Tx (db.DB.ExecContext
// says why).
func (s *Store) Heartbeat(ctx context.Context, host, binary string, at time.Time, interval time.Duration) (svc *Service, created bool, err error) {
	seen, iv := micros(at), interval.Microseconds()
	for range 3 {
		err = s.db.Tx(ctx, func(tx *sql.Tx) error {
			svc, err = scanService(tx.QueryRowContext(ctx, `UPDATE services SET last_seen_up = $1, report_interval = $2,
				updated_at = $1 WHERE host = $3 AND service_binary = $4 RETURNING `+serviceColumns, seen, iv, host, binary))
			return err
		})
		if err == nil {
			return svc, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, fmt.Errorf("heartbeat of %s on %s: %w", binary, host, err)
		}
		err = s.db.Tx(ctx, func(tx *sql.Tx) error {
			svc, err = scanService(tx.QueryRowContext(ctx, `INSERT INTO services (uuid, host, service_binary, topic,
				last_seen_up, report_interval, created_at) VALUES ($1, $2, $3, $4, $5, $6, $5)
				ON CONFLICT (host, service_binary) DO NOTHING RETURNING `+serviceColumns,
				uuid.NewString(), host, binary, strings.TrimPrefix(binary, "nova-"), seen, iv))
			return err
		})
		if err == nil {
			return svc, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, fmt.Errorf("register %s on %s: %w", binary, host, err)
		}
		// Another beat of the same service inserted it first.
	}
	return nil, false, fmt.Errorf("heartbeat of %s on %s: the service keeps appearing and vanishing", binary, host)
}

// ListServices returns services, filtered by host and binary when set.
func (s *Store) ListServices(ctx context.Context, host, binary string) ([]Service, error) {
	var a args
	conds := []string{"TRUE"}
	if host != "" {
		conds = append(conds, "host = "+a.add(host))
	}
	if binary != "" {
		conds = append(conds, "service_binary = "+a.add(binary))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+serviceColumns+` FROM services WHERE `+strings.Join(conds, " AND ")+` ORDER BY id`, a...)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	out := []Service{}
	for rows.Next() {
		v, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		out = append(out, *v)
	}
	return out, wrap("list services", rows.Err())
}

// byIDOrUUID is the condition on a table's id when ref is a number, on
// its uuid otherwise.
func byIDOrUUID(ref string) (string, any) {
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return "id = $1", n
	}
	return "uuid = $1", ref
}

// GetService returns a service by UUID or, when id is a number, by ID.
func (s *Store) GetService(ctx context.Context, id string) (*Service, error) {
	cond, v := byIDOrUUID(id)
	svc, err := scanService(s.db.QueryRowContext(ctx, `SELECT `+serviceColumns+` FROM services WHERE `+cond, v))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("service %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get service %s: %w", id, err)
	}
	return svc, nil
}

// UpdateService changes a service's disabled state and reason and its
// forced-down flag (nil leaves a field).
func (s *Store) UpdateService(ctx context.Context, id int64, disabled *bool, reason **string, forcedDown *bool) (*Service, error) {
	var a args
	set := []string{"updated_at = " + a.add(micros(s.now()))}
	if disabled != nil {
		set = append(set, "disabled = "+a.add(*disabled))
	}
	if reason != nil {
		set = append(set, "disabled_reason = "+a.add(nullString(*reason)))
	}
	if forcedDown != nil {
		set = append(set, "forced_down = "+a.add(*forcedDown))
	}
	svc, err := scanService(s.db.QueryRowContext(ctx, `UPDATE services SET `+strings.Join(set, ", ")+
		` WHERE id = `+a.add(id)+` RETURNING `+serviceColumns, a...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("service %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update service %d: %w", id, err)
	}
	return svc, nil
}

// DeleteService removes a service and, for a compute service, its
// compute nodes and its host's place in aggregates (as Nova's service
// delete does).
func (s *Store) DeleteService(ctx context.Context, id int64) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var host, binary string
		err := tx.QueryRowContext(ctx, `DELETE FROM services WHERE id = $1 RETURNING host, service_binary`, id).Scan(&host, &binary)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("service %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("delete service %d: %w", id, err)
		}
		if binary != "nova-compute" {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM compute_nodes WHERE host = $1`, host); err != nil {
			return fmt.Errorf("delete compute nodes of %s: %w", host, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM aggregate_hosts WHERE host = $1`, host); err != nil {
			return fmt.Errorf("remove %s from aggregates: %w", host, err)
		}
		return nil
	})
}

const nodeColumns = `id, uuid, host, hypervisor_hostname, hypervisor_type, hypervisor_version, vcpus, memory_mb,
	local_gb, cpu_info, host_ip, created_at, updated_at`

func scanNode(sc interface{ Scan(...any) error }) (*ComputeNode, error) {
	var n ComputeNode
	var created, updated int64
	if err := sc.Scan(&n.ID, &n.UUID, &n.Host, &n.HypervisorHostname, &n.HypervisorType, &n.HypervisorVersion,
		&n.VCPUs, &n.MemoryMB, &n.LocalGB, &n.CPUInfo, &n.HostIP, &created, &updated); err != nil {
		return nil, err
	}
	n.CreatedAt, n.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &n, nil
}

// PutComputeNode creates or updates the node (host, hypervisor
// hostname); a new node gets n.UUID if set, else a new UUID. Returns it
// as stored. An existing node keeps its UUID; a UUID another node has is
// ErrConflict.
func (s *Store) PutComputeNode(ctx context.Context, n ComputeNode) (*ComputeNode, error) {
	if n.UUID == "" {
		n.UUID = uuid.NewString()
	}
	now := micros(s.now())
	out, err := scanNode(s.db.QueryRowContext(ctx, `INSERT INTO compute_nodes (uuid, host, hypervisor_hostname,
		hypervisor_type, hypervisor_version, vcpus, memory_mb, local_gb, cpu_info, host_ip, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (host, hypervisor_hostname) DO UPDATE SET hypervisor_type = excluded.hypervisor_type,
			hypervisor_version = excluded.hypervisor_version, vcpus = excluded.vcpus, memory_mb = excluded.memory_mb,
			local_gb = excluded.local_gb, cpu_info = excluded.cpu_info, host_ip = excluded.host_ip, updated_at = $11
		RETURNING `+nodeColumns,
		n.UUID, n.Host, n.HypervisorHostname, n.HypervisorType, n.HypervisorVersion, n.VCPUs, n.MemoryMB, n.LocalGB,
		n.CPUInfo, n.HostIP, now))
	if db.IsUniqueViolation(err) {
		return nil, fmt.Errorf("compute node %s: %w", n.UUID, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("put compute node %s/%s: %w", n.Host, n.HypervisorHostname, err)
	}
	return out, nil
}

// ListComputeNodes returns every node, or those of host.
func (s *Store) ListComputeNodes(ctx context.Context, host string) ([]ComputeNode, error) {
	q, a := `SELECT `+nodeColumns+` FROM compute_nodes ORDER BY id`, []any{}
	if host != "" {
		q, a = `SELECT `+nodeColumns+` FROM compute_nodes WHERE host = $1 ORDER BY id`, []any{host}
	}
	rows, err := s.db.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("list compute nodes: %w", err)
	}
	defer rows.Close()
	out := []ComputeNode{}
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("list compute nodes: %w", err)
		}
		out = append(out, *n)
	}
	return out, wrap("list compute nodes", rows.Err())
}

// GetComputeNode returns a node by UUID or numeric ID.
func (s *Store) GetComputeNode(ctx context.Context, id string) (*ComputeNode, error) {
	cond, v := byIDOrUUID(id)
	n, err := scanNode(s.db.QueryRowContext(ctx, `SELECT `+nodeColumns+` FROM compute_nodes WHERE `+cond, v))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("compute node %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get compute node %s: %w", id, err)
	}
	return n, nil
}

// HostInstances returns the UUIDs of the instances (not deleted) on host.
func (s *Store) HostInstances(ctx context.Context, host string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT uuid FROM instances WHERE host = $1 AND deleted = FALSE ORDER BY id`, host)
	if err != nil {
		return nil, fmt.Errorf("instances of %s: %w", host, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("instances of %s: %w", host, err)
		}
		out = append(out, u)
	}
	return out, wrap("instances of "+host, rows.Err())
}
