// Package tasks is what the compute API asks of the conductor: one
// durable work queue (bus.Enqueue / bus.Work) of Tasks, each naming an
// instance and what to do with it. The API has already checked the
// request and set the instance's task state (guarded, so one task runs
// per instance at a time); the conductor does the work (scheduling, the
// agent's RPC, placement) and writes the outcome. Delivery is at least
// once: the conductor checks the instance's task state before acting, so
// a task delivered twice does nothing the second time.
package tasks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/bus"
)

// Queue is the work queue's name.
const Queue = "compute-tasks"

// Version of the task format; fields are only ever added.
const Version = 1

// Kind is what a task asks.
type Kind string

// The kinds, with the task state the API set for each and the arguments
// it takes.
const (
	Build         Kind = "build"          // task scheduling: schedule and spawn (and reschedule)
	Delete        Kind = "delete"         // task deleting: destroy on the host, free placement, mark deleted
	Stop          Kind = "stop"           // powering-off
	Start         Kind = "start"          // powering-on
	Reboot        Kind = "reboot"         // reboot_pending(_hard): Hard
	Pause         Kind = "pause"          // pausing
	Unpause       Kind = "unpause"        // unpausing
	Suspend       Kind = "suspend"        // suspending
	Resume        Kind = "resume"         // resuming
	Rebuild       Kind = "rebuild"        // rebuilding: ImageID (the instance record already has the new image)
	Resize        Kind = "resize"         // resize_prep: the instance's NewFlavor
	Confirm       Kind = "confirm_resize" // resize_confirming
	Revert        Kind = "revert_resize"  // resize_reverting
	Snapshot      Kind = "snapshot"       // image_snapshot: ImageID (created queued by the API)
	Rescue        Kind = "rescue"         // rescuing: ImageID (rescue image)
	Unrescue      Kind = "unrescue"       // unrescuing
	Shelve        Kind = "shelve"         // shelving: ImageID (snapshot, created queued by the API); then offload
	ShelveOffload Kind = "shelve_offload" // shelving_offloading
	Unshelve      Kind = "unshelve"       // unshelving: AvailabilityZone optional
)

// Task is one message on Queue.
type Task struct {
	V         int    `json:"v"`
	Kind      Kind   `json:"kind"`
	UUID      string `json:"uuid"`
	RequestID string `json:"request_id"` // the API request's id: the action's, for its events
	// ProjectID and UserID of the caller, for the action's events and
	// notifications.
	ProjectID string `json:"project_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`

	Hard             bool   `json:"hard,omitempty"`
	ImageID          string `json:"image_id,omitempty"`
	AvailabilityZone string `json:"availability_zone,omitempty"`
}

// Enqueue puts t on the queue (durable before it returns).
func Enqueue(ctx context.Context, b *bus.Bus, t Task) error {
	if t.V == 0 {
		t.V = Version
	}
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return b.Enqueue(ctx, Queue, body)
}

// Decode reads a task taken from Queue; a newer version or garbage is
// refused for good (bus.Permanent).
func Decode(body []byte) (Task, error) {
	var t Task
	if err := json.Unmarshal(body, &t); err != nil {
		return Task{}, bus.Permanent(fmt.Errorf("decode compute task: %w", err))
	}
	if t.V <= 0 || t.V > Version || t.UUID == "" || t.Kind == "" {
		return Task{}, bus.Permanent(fmt.Errorf("compute task %q of %s: unsupported version %d", t.Kind, t.UUID, t.V))
	}
	return t, nil
}
