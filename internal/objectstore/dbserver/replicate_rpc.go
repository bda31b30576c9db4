package dbserver

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// The REPLICATE verb (storage nodes only) carries one JSON message:
//
//	REPLICATE /container/{dev}/{part}/{hash}   (or /account/...)
//
//	{"op": "sync", "id": sender's copy id, "info": {...}}
//	    404 if the database is missing here; otherwise the sender's
//	    timestamps and metadata are merged and the answer is
//	    {"id": this copy's id, "point": highest seq of the sender's copy
//	    merged here (-1: none), "info": this copy's timestamps and metadata}.
//	{"op": "create", "id": ..., "info": {...}}
//	    makes the database (empty, with the sender's names, timestamps
//	    and metadata) if missing, then answers as sync.
//	{"op": "merge", "id": ..., "objects": [...] | "containers": [...], "point": N}
//	    merges rows newest-wins and remembers N (the highest seq in the
//	    batch) as the sender's sync point; answers {"id", "point"}.

// replRequest is a REPLICATE message.
type replRequest struct {
	Op         string         `json:"op"`
	ID         string         `json:"id"`
	Info       *wireInfo      `json:"info,omitempty"`
	Objects    []objectRow    `json:"objects,omitempty"`
	Containers []containerRow `json:"containers,omitempty"`
	Point      int64          `json:"point,omitempty"`
}

// replReply answers a REPLICATE message.
type replReply struct {
	ID    string    `json:"id"`
	Point int64     `json:"point"`
	Info  *wireInfo `json:"info,omitempty"`
}

// wireInfo is what replicas exchange of a database's own state; stats are
// not exchanged, they follow from the rows.
type wireInfo struct {
	Account         string   `json:"account"`
	Container       string   `json:"container,omitempty"`
	CreatedAt       string   `json:"created_at"`
	PutTimestamp    string   `json:"put_timestamp"`
	DeleteTimestamp string   `json:"delete_timestamp"`
	StatusChangedAt string   `json:"status_changed_at"`
	Status          string   `json:"status,omitempty"`
	Metadata        metadata `json:"metadata"`
}

func toWire(i *info) *wireInfo {
	return &wireInfo{Account: i.Account, Container: i.Container, CreatedAt: i.CreatedAt.Internal(),
		PutTimestamp: i.PutTimestamp.Internal(), DeleteTimestamp: i.DeleteTimestamp.Internal(),
		StatusChangedAt: i.StatusChangedAt.Internal(), Status: i.Status, Metadata: i.Metadata}
}

func (w *wireInfo) info() (*info, error) {
	i := &info{Account: w.Account, Container: w.Container, Status: w.Status, Metadata: w.Metadata}
	if i.Metadata == nil {
		i.Metadata = metadata{}
	}
	if i.Status != "" && i.Status != statusDeleted {
		return nil, fmt.Errorf("bad status %q", i.Status)
	}
	for _, f := range []struct {
		s  string
		ts *swift.Timestamp
	}{{w.CreatedAt, &i.CreatedAt}, {w.PutTimestamp, &i.PutTimestamp}, {w.DeleteTimestamp, &i.DeleteTimestamp},
		{w.StatusChangedAt, &i.StatusChangedAt}} {
		ts, err := swift.ParseTimestamp(f.s)
		if err != nil {
			return nil, err
		}
		*f.ts = ts
	}
	return i, nil
}

// maxReplicateBody bounds one REPLICATE message.
const maxReplicateBody = 64 << 20

func isHash(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// serveReplicate answers a peer's REPLICATE message.
func (s *Server) serveReplicate(w http.ResponseWriter, r *http.Request, k kind, dev string, bp swift.BackendPath) {
	hash := bp.Account
	if !isHash(hash) || bp.Container != "" {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
		return
	}
	var req replRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxReplicateBody))
	if err := dec.Decode(&req); err != nil {
		swift.WriteError(w, r, http.StatusBadRequest, "Bad REPLICATE body: "+err.Error())
		return
	}
	if req.ID == "" {
		swift.WriteError(w, r, http.StatusBadRequest, "Bad REPLICATE body: no id")
		return
	}
	path := dbPath(dev, k, bp.Partition, hash)
	var reply *replReply
	var status int
	var err error
	switch req.Op {
	case "sync", "create":
		reply, status, err = s.replSync(r.Context(), k, path, hash, &req)
	case "merge":
		reply, status, err = s.replMerge(r.Context(), k, path, &req)
	default:
		status = http.StatusBadRequest
		err = fmt.Errorf("unknown op %q", req.Op)
	}
	switch {
	case status == http.StatusNotFound:
		swift.WriteStatus(w, r, status)
	case status != 0:
		swift.WriteError(w, r, status, "Bad REPLICATE body: "+err.Error())
	case err != nil:
		s.fail(w, r, err)
	default:
		b, _ := json.Marshal(reply)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}
}

// replSync merges the sender's state into this copy (making it first
// for "create") and answers with this copy's state and sync point.
func (s *Server) replSync(ctx context.Context, k kind, path, hash string, req *replRequest) (*replReply, int, error) {
	if req.Info == nil {
		return nil, http.StatusBadRequest, errors.New("no info")
	}
	in, err := req.Info.info()
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	var init *info
	if req.Op == "create" {
		rg := s.ring.Ring()
		if rg == nil {
			return nil, 0, errors.New("no ring loaded")
		}
		if in.Account == "" || (k == kindContainer) != (in.Container != "") ||
			rg.Hash(in.Account, in.Container, "") != hash {
			return nil, http.StatusBadRequest, errors.New("names do not match the hash")
		}
		init = &info{Account: in.Account, Container: in.Container, CreatedAt: in.CreatedAt, PutTimestamp: in.PutTimestamp,
			DeleteTimestamp: in.DeleteTimestamp, StatusChangedAt: in.StatusChangedAt, Status: in.Status, Metadata: in.Metadata}
	}
	d, _, err := s.dbs.acquire(ctx, path, k, init)
	if errors.Is(err, errNoDB) {
		return nil, http.StatusNotFound, err
	}
	if err != nil {
		return nil, 0, err
	}
	defer s.dbs.release(d)
	reply := &replReply{Point: -1}
	err = d.write(func(tx *sql.Tx) error {
		i, err := readInfo(ctx, tx)
		if err != nil {
			return err
		}
		if i.mergeState(k, in) {
			if err := saveState(ctx, tx, i); err != nil {
				return err
			}
		}
		reply.ID, reply.Info = i.ID, toWire(i)
		reply.Point = -1
		err = tx.QueryRowContext(ctx, `SELECT sync_point FROM incoming_sync WHERE remote_id = $1`, req.ID).Scan(&reply.Point)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return reply, 0, nil
}

// replMerge merges a batch of the sender's rows.
func (s *Server) replMerge(ctx context.Context, k kind, path string, req *replRequest) (*replReply, int, error) {
	if (k == kindContainer && len(req.Containers) > 0) || (k == kindAccount && len(req.Objects) > 0) {
		return nil, http.StatusBadRequest, errors.New("rows of the wrong kind")
	}
	for n := range req.Objects {
		if err := req.Objects[n].check(); err != nil {
			return nil, http.StatusBadRequest, err
		}
	}
	for n := range req.Containers {
		if err := req.Containers[n].check(); err != nil {
			return nil, http.StatusBadRequest, err
		}
	}
	d, _, err := s.dbs.acquire(ctx, path, k, nil)
	if errors.Is(err, errNoDB) {
		return nil, http.StatusNotFound, err
	}
	if err != nil {
		return nil, 0, err
	}
	defer s.dbs.release(d)
	reply := &replReply{}
	err = d.write(func(tx *sql.Tx) error {
		var err error
		if k == kindContainer {
			_, err = mergeObjects(ctx, d, tx, req.Objects)
		} else {
			_, err = mergeContainers(ctx, d, tx, req.Containers)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO incoming_sync (remote_id, sync_point) VALUES ($1, $2)
			ON CONFLICT (remote_id) DO UPDATE SET sync_point = max(sync_point, excluded.sync_point)`, req.ID, req.Point); err != nil {
			return fmt.Errorf("save sync point: %w", err)
		}
		reply.ID = ""
		return tx.QueryRowContext(ctx, `SELECT id, (SELECT sync_point FROM incoming_sync WHERE remote_id = $1) FROM info`,
			req.ID).Scan(&reply.ID, &reply.Point)
	})
	if err != nil {
		return nil, 0, err
	}
	return reply, 0, nil
}
