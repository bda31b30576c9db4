package compute

import (
	"context"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// queuedTasks takes every task the API queues on b, as the conductor
// would, and hands them to the test in order.
func queuedTasks(t *testing.T, b *bus.Bus) chan tasks.Task {
	t.Helper()
	ch := make(chan tasks.Task, 1000)
	stop, err := b.Work(context.Background(), tasks.Queue, func(ctx context.Context, body []byte) error {
		task, err := tasks.Decode(body)
		if err != nil {
			return err
		}
		ch <- task
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ch
}

// waitTask waits for the next queued task.
func waitTask(t *testing.T, ch chan tasks.Task) tasks.Task {
	t.Helper()
	select {
	case task := <-ch:
		return task
	case <-time.After(10 * time.Second):
		t.Fatal("no task queued")
	}
	return tasks.Task{}
}

// expectNoTask checks that nothing is queued within d.
func expectNoTask(t *testing.T, ch chan tasks.Task, d time.Duration) {
	t.Helper()
	select {
	case task := <-ch:
		t.Fatalf("unexpected task %+v", task)
	case <-time.After(d):
	}
}
