package compute

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// A server may be deleted while it builds, whatever step the conductor
// is at (Nova checks no task state for delete): the delete task is
// queued and the server shows deleting.
func TestServerDeleteWhileBuilding(t *testing.T) {
	a := newSrvAPI(t)
	if _, _, err := a.svc.instances.Heartbeat(context.Background(), "host1", "nova-compute", time.Now(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	id := a.create(t, "member", "b", nil)
	a.set(t, id, func(i *instances.Instance) { i.Host, i.Node, i.TaskState = "host1", "host1", instances.TaskSpawning })
	a.call("DELETE", "/v2.1/servers/"+id, nil, "token=member").must(t, http.StatusNoContent)
	if task := a.nextTask(t); task.Kind != tasks.Delete || task.UUID != id {
		t.Fatalf("task %+v, want delete of %s", task, id)
	}
	if s := a.call("GET", "/v2.1/servers/"+id, nil, "token=member").must(t, http.StatusOK); s.str("server.OS-EXT-STS:task_state") != "deleting" {
		t.Fatalf("task state %q, want deleting", s.str("server.OS-EXT-STS:task_state"))
	}
}

// Without a network service the only security group is "default".
func TestServerCreateUnknownSecurityGroup(t *testing.T) {
	a := newSrvAPI(t)
	a.call("POST", "/v2.1/servers", a.serverBody("sg", map[string]any{"security_groups": []any{map[string]any{"name": "nope"}}}),
		"latest", "token=member").fault(t, http.StatusBadRequest, "badRequest", "Security group nope not found.")
	a.create(t, "member", "sg", map[string]any{"security_groups": []any{map[string]any{"name": "default"}}})
}
