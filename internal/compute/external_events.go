package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

// os-server-external-events: what the network and volume services tell
// compute about its servers (a port plugged, a volume extended). Without
// those services here there is nothing to act on; an accepted event is
// recorded on the server's newest action, as an event of it.

// ExternalEvent is one event as posted and as answered.
type ExternalEvent struct {
	Name       string
	ServerUUID string
	Status     string // "completed" when not given
	Tag        *string
	Code       int // the answer: 200, 400, 404 or 422
}

// eventsNeedingTag are Nova's TAG_REQUIRED events.
var eventsNeedingTag = []string{"volume-extended", "power-update", "accelerator-request-bound"}

// externalEventRecord is the name of the action event an accepted
// external event is recorded as.
const externalEventRecord = "compute_external_instance_event"

// ExternalEvents takes events for servers of any project: each gets its
// code (404 for an unknown server, 400 for a missing tag, 422 for a
// server on no host, else 200); multi is whether any failed (Nova's
// 207).
func (s *Service) ExternalEvents(ctx context.Context, p *authn.Principal, events []ExternalEvent) (multi bool, err error) {
	if err := s.authorize(p, policyExternalEventsCreate, map[string]any{}); err != nil {
		return false, err
	}
	for i := range events {
		e := &events[i]
		if e.Status == "" {
			e.Status = "completed"
		}
		inst, err := s.instances.Get(ctx, e.ServerUUID, false)
		switch {
		case errors.Is(err, instances.ErrNotFound):
			e.Status, e.Code = "failed", http.StatusNotFound
		case err != nil:
			return false, err
		case e.Tag == nil && slices.Contains(eventsNeedingTag, e.Name):
			e.Status, e.Code = "failed", http.StatusBadRequest
		case inst.Host == "":
			e.Status, e.Code = "failed", http.StatusUnprocessableEntity
		default:
			e.Status, e.Code = "completed", http.StatusOK
			s.recordExternalEvent(ctx, e)
		}
		if e.Code != http.StatusOK {
			multi = true
		}
	}
	return multi, nil
}

// recordExternalEvent adds the event to the server's newest action; a
// failure to record is logged, the event was still taken.
func (s *Service) recordExternalEvent(ctx context.Context, e *ExternalEvent) {
	acts, err := s.instances.ListActions(ctx, e.ServerUUID, 1, "", time.Time{}, time.Time{})
	if err != nil || len(acts) == 0 {
		if err != nil {
			s.log.WarnContext(ctx, "record external event", "instance", e.ServerUUID, "event", e.Name, "err", err)
		}
		return
	}
	details := e.Name
	if e.Tag != nil {
		details += ":" + *e.Tag
	}
	if err := s.instances.FinishEvent(ctx, e.ServerUUID, acts[0].RequestID, externalEventRecord, "Success", "", details); err != nil {
		s.log.WarnContext(ctx, "record external event", "instance", e.ServerUUID, "event", e.Name, "err", err)
	}
}

// externalEventNames are the event names a microversion accepts.
func externalEventNames(v Version) []string {
	names := []string{"network-changed", "network-vif-plugged", "network-vif-unplugged", "network-vif-deleted"}
	for _, n := range []struct {
		minor int
		name  string
	}{{51, "volume-extended"}, {76, "power-update"}, {82, "accelerator-request-bound"}, {93, "volume-reimaged"}} {
		if v.AtLeast(n.minor) {
			names = append(names, n.name)
		}
	}
	return names
}

func (h *handlers) createExternalEvents(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	o, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	if err := o.check("", raw, []string{"events"}, "events"); err != nil {
		return err
	}
	var items []json.RawMessage
	if list := o["events"]; len(list) == 0 || list[0] != '[' || json.Unmarshal(list, &items) != nil {
		return invalidField("events", o["events"], pyRepr(o["events"])+" is not of type 'array'")
	}
	if len(items) == 0 {
		return invalidField("events", o["events"], "[] should be non-empty")
	}
	names := externalEventNames(mv(r))
	statuses := []string{"failed", "completed", "in-progress"}
	events := make([]ExternalEvent, 0, len(items))
	for i, item := range items {
		field := fmt.Sprintf("events/%d", i)
		eo, err := objectAt(item, field)
		if err != nil {
			return err
		}
		if err := eo.check(field, item, []string{"name", "server_uuid", "status", "tag"}, "name", "server_uuid"); err != nil {
			return err
		}
		var e ExternalEvent
		if e.Name, err = jsonString(field+"/name", eo["name"]); err != nil {
			return err
		}
		if !slices.Contains(names, e.Name) {
			return invalidField(field+"/name", eo["name"], pyRepr(eo["name"])+" is not one of "+pyList(names))
		}
		if e.ServerUUID, err = uuidField(field+"/server_uuid", eo["server_uuid"]); err != nil {
			return err
		}
		if raw, ok := eo["status"]; ok {
			if e.Status, err = jsonString(field+"/status", raw); err != nil {
				return err
			}
			if !slices.Contains(statuses, e.Status) {
				return invalidField(field+"/status", raw, pyRepr(raw)+" is not one of "+pyList(statuses))
			}
		}
		if raw, ok := eo["tag"]; ok {
			tag, err := jsonString(field+"/tag", raw)
			if err != nil {
				return err
			}
			if err := stringLen(field+"/tag", raw, tag, 0, 255); err != nil {
				return err
			}
			e.Tag = &tag
		}
		events = append(events, e)
	}
	multi, err := h.svc.ExternalEvents(r.Context(), principal(r), events)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(events))
	for _, e := range events {
		m := map[string]any{"name": e.Name, "server_uuid": e.ServerUUID, "status": e.Status, "code": e.Code}
		if e.Tag != nil {
			m["tag"] = *e.Tag
		}
		out = append(out, m)
	}
	status := http.StatusOK
	if multi {
		status = http.StatusMultiStatus
	}
	return writeJSON(w, status, map[string]any{"events": out})
}
