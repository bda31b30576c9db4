package compute

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-aggregates: host aggregates, whose "availability_zone" metadata
// puts their hosts in a zone. A host is in one zone at most, and a host
// holding servers may not change zone (their zone would change under
// them).
//
// Nova mirrors aggregate membership into placement (resource provider
// aggregates) for member_of; this API does not yet: the scheduler reads
// aggregates from the compute database.

const zoneKey = "availability_zone"

func aggregateNotFound(id string) error {
	return fault.NotFoundf("Aggregate %s could not be found.", id)
}

// pyList is Python's repr of a list of strings, as Nova's messages show.
func pyList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Aggregates lists the aggregates.
func (s *Service) Aggregates(ctx context.Context, p *authn.Principal) ([]instances.Aggregate, error) {
	if err := s.authorize(p, policyAggregatesIndex, map[string]any{}); err != nil {
		return nil, err
	}
	list, err := s.instances.ListAggregates(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list, nil
}

// CreateAggregate makes an aggregate, in zone when it is not "".
func (s *Service) CreateAggregate(ctx context.Context, p *authn.Principal, name, zone string) (*instances.Aggregate, error) {
	if err := s.authorize(p, policyAggregatesCreate, map[string]any{}); err != nil {
		return nil, err
	}
	a := &instances.Aggregate{Name: name, AvailabilityZone: zone, Metadata: map[string]string{}, CreatedAt: s.now().UTC()}
	if zone != "" {
		a.Metadata[zoneKey] = zone
	}
	err := s.instances.CreateAggregate(ctx, a)
	if errors.Is(err, instances.ErrConflict) {
		return nil, fault.Conflictf("Aggregate %s already exists.", name)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// getAggregate reads an aggregate by its numeric id.
func (s *Service) getAggregate(ctx context.Context, id string) (*instances.Aggregate, error) {
	a, err := s.instances.GetAggregate(ctx, id)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, aggregateNotFound(id)
	}
	return a, err
}

// Aggregate returns one aggregate.
func (s *Service) Aggregate(ctx context.Context, p *authn.Principal, id string) (*instances.Aggregate, error) {
	if err := s.authorize(p, policyAggregatesShow, map[string]any{}); err != nil {
		return nil, err
	}
	return s.getAggregate(ctx, id)
}

// zoneChangeSafe is Nova's is_safe_to_update_az: a zone may not be
// emptied, the hosts may not be in another zone already, and (when
// checkInstances) hosts holding servers may not change zone.
func (s *Service) zoneChangeSafe(ctx context.Context, a *instances.Aggregate, zone *string, hosts []string,
	checkInstances bool, refuse func(reason string) error) error {
	if zone == nil {
		return nil
	}
	if *zone == "" {
		return refuse("Aggregate " + a.Name + " does not support empty named availability zone")
	}
	if hosts == nil {
		hosts = a.Hosts
	}
	var conflicting []string
	for _, h := range hosts {
		aggs, err := s.instances.HostAggregates(ctx, h)
		if err != nil {
			return err
		}
		for _, other := range aggs {
			if other.ID != a.ID && other.AvailabilityZone != "" && other.AvailabilityZone != *zone {
				conflicting = append(conflicting, other.AvailabilityZone)
			}
		}
	}
	if len(conflicting) > 0 {
		return refuse("One or more hosts already in availability zone(s) " + pyList(conflicting))
	}
	if checkInstances && a.AvailabilityZone != *zone {
		for _, h := range hosts {
			held, err := s.instances.HostInstances(ctx, h)
			if err != nil {
				return err
			}
			if len(held) > 0 {
				return refuse("One or more hosts contain instances in this zone")
			}
		}
	}
	return nil
}

func refuseUpdate(id int64, kind fault.Kind) func(string) error {
	return func(reason string) error {
		return fault.New(kind, "Cannot update aggregate %d. Reason: %s.", id, reason)
	}
}

// UpdateAggregate renames an aggregate and/or moves it to another zone
// (zone nil leaves it; a pointer to nil is a JSON null, refused as an
// empty zone).
func (s *Service) UpdateAggregate(ctx context.Context, p *authn.Principal, id string, name *string, zone **string) (*instances.Aggregate, error) {
	if err := s.authorize(p, policyAggregatesUpdate, map[string]any{}); err != nil {
		return nil, err
	}
	a, err := s.getAggregate(ctx, id)
	if err != nil {
		return nil, err
	}
	var z *string
	if zone != nil {
		z = *zone
		if z == nil {
			empty := ""
			z = &empty
		}
		if err := s.zoneChangeSafe(ctx, a, z, nil, true, refuseUpdate(a.ID, fault.BadRequest)); err != nil {
			return nil, err
		}
	}
	out, err := s.instances.UpdateAggregate(ctx, a.ID, name, z)
	switch {
	case errors.Is(err, instances.ErrConflict):
		return nil, fault.Conflictf("Aggregate %s already exists.", *name)
	case errors.Is(err, instances.ErrNotFound):
		return nil, aggregateNotFound(id)
	}
	return out, err
}

// DeleteAggregate removes an aggregate without hosts.
func (s *Service) DeleteAggregate(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, policyAggregatesDelete, map[string]any{}); err != nil {
		return err
	}
	a, err := s.getAggregate(ctx, id)
	if err != nil {
		return err
	}
	if len(a.Hosts) > 0 {
		return fault.BadRequestf("Cannot remove host from aggregate %d. Reason: Host aggregate is not empty.", a.ID)
	}
	err = s.instances.DeleteAggregate(ctx, a.ID)
	if errors.Is(err, instances.ErrNotFound) {
		return aggregateNotFound(id)
	}
	return err
}

// SetAggregateMetadata merges metadata into an aggregate; a nil value
// removes a key.
func (s *Service) SetAggregateMetadata(ctx context.Context, p *authn.Principal, id string, md map[string]*string) (*instances.Aggregate, error) {
	if err := s.authorize(p, policyAggregatesSetMetadata, map[string]any{}); err != nil {
		return nil, err
	}
	a, err := s.getAggregate(ctx, id)
	if err != nil {
		return nil, err
	}
	if v, ok := md[zoneKey]; ok {
		z := v
		if z == nil {
			empty := ""
			z = &empty
		}
		refuse := func(reason string) error {
			return fault.BadRequestf("Cannot update metadata of aggregate %d. Reason: %s.", a.ID, reason)
		}
		if err := s.zoneChangeSafe(ctx, a, z, nil, true, refuse); err != nil {
			return nil, err
		}
	}
	out, err := s.instances.SetAggregateMetadata(ctx, a.ID, md)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, aggregateNotFound(id)
	}
	return out, err
}

// hostZoneAfter is the zone a host would be in with aggregates aggs
// (leaving out skip), "" for none: Nova's ensure_no_instances_need_to_move_az.
func hostZoneAfter(aggs []instances.Aggregate, skip int64) string {
	for _, a := range aggs {
		if a.ID != skip && a.AvailabilityZone != "" {
			return a.AvailabilityZone
		}
	}
	return ""
}

// zoneRepr is a host's zone in Nova's messages: None for none.
func zoneRepr(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// AddAggregateHost adds a compute host to an aggregate.
func (s *Service) AddAggregateHost(ctx context.Context, p *authn.Principal, id, host string) (*instances.Aggregate, error) {
	if err := s.authorize(p, policyAggregatesAddHost, map[string]any{}); err != nil {
		return nil, err
	}
	sv, err := s.computeService(ctx, host)
	if err != nil {
		return nil, err
	}
	if sv == nil {
		return nil, fault.NotFoundf("Compute host %s could not be found.", host)
	}
	a, err := s.getAggregate(ctx, id)
	if err != nil {
		return nil, err
	}
	refuse := func(reason string) error {
		return fault.Conflictf("Cannot add host to aggregate %d. Reason: %s.", a.ID, reason)
	}
	if a.AvailabilityZone != "" {
		z := a.AvailabilityZone
		if err := s.zoneChangeSafe(ctx, a, &z, []string{host}, false, refuse); err != nil {
			return nil, err
		}
		held, err := s.instances.HostInstances(ctx, host)
		if err != nil {
			return nil, err
		}
		if len(held) > 0 {
			aggs, err := s.instances.HostAggregates(ctx, host)
			if err != nil {
				return nil, err
			}
			if old := hostZoneAfter(aggs, a.ID); old != z {
				return nil, refuse(zoneMoveMessage("added to", old, z, len(held)))
			}
		}
	}
	out, err := s.instances.AddAggregateHost(ctx, a.ID, host)
	switch {
	case errors.Is(err, instances.ErrConflict):
		return nil, fault.Conflictf("Aggregate %d already has host %s.", a.ID, host)
	case errors.Is(err, instances.ErrNotFound):
		return nil, aggregateNotFound(id)
	}
	return out, err
}

func zoneMoveMessage(verb, from, to string, n int) string {
	return "The host cannot be " + verb + " the aggregate as the availability zone of the host would change from '" +
		zoneRepr(from) + "' to '" + zoneRepr(to) + "' but the host already has " + strconv.Itoa(n) +
		" instance(s). Changing the AZ of an existing instance is not supported by this action. Move the instances " +
		"away from this host then try again. If you need to move the instances between AZs then you can use " +
		"shelve_offload and unshelve to achieve this."
}

// RemoveAggregateHost takes a host out of an aggregate.
func (s *Service) RemoveAggregateHost(ctx context.Context, p *authn.Principal, id, host string) (*instances.Aggregate, error) {
	if err := s.authorize(p, policyAggregatesRemoveHost, map[string]any{}); err != nil {
		return nil, err
	}
	notFound := fault.NotFoundf("Cannot remove host %s in aggregate %s", host, id)
	sv, err := s.computeService(ctx, host)
	if err != nil {
		return nil, err
	}
	if sv == nil {
		return nil, notFound
	}
	a, err := s.instances.GetAggregate(ctx, id)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if !contains(a.Hosts, host) {
		return nil, notFound
	}
	if a.AvailabilityZone != "" {
		held, err := s.instances.HostInstances(ctx, host)
		if err != nil {
			return nil, err
		}
		if len(held) > 0 {
			aggs, err := s.instances.HostAggregates(ctx, host)
			if err != nil {
				return nil, err
			}
			if next := hostZoneAfter(aggs, a.ID); next != a.AvailabilityZone {
				return nil, fault.Conflictf("Cannot remove host from aggregate %d. Reason: %s.", a.ID,
					zoneMoveMessage("removed from", a.AvailabilityZone, next, len(held)))
			}
		}
	}
	out, err := s.instances.RemoveAggregateHost(ctx, a.ID, host)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, notFound
	}
	return out, err
}

// CacheAggregateImages is 2.81's image precaching, which the agents do
// not offer: after checking the request as Nova does, 501.
func (s *Service) CacheAggregateImages(ctx context.Context, p *authn.Principal, id string, images []string) error {
	if err := s.authorize(p, policyAggregatesImages, map[string]any{}); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, im := range images {
		if seen[im] {
			return fault.BadRequestf("Duplicate images in request")
		}
		seen[im] = true
	}
	if _, err := s.getAggregate(ctx, id); err != nil {
		return err
	}
	return fault.New(fault.NotImplemented, "The requested functionality is not supported.")
}

// ---- HTTP

// aggregateBody is an aggregate in Nova's shape; Hosts and Metadata are
// left out of the create answer.
type aggregateBody struct {
	AvailabilityZone *string           `json:"availability_zone"`
	CreatedAt        string            `json:"created_at"`
	Deleted          bool              `json:"deleted"`
	DeletedAt        *string           `json:"deleted_at"`
	Hosts            []string          `json:"hosts,omitempty"`
	ID               int64             `json:"id"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	Name             string            `json:"name"`
	UpdatedAt        *string           `json:"updated_at"`
	UUID             string            `json:"uuid,omitempty"`
}

func toAggregate(r *http.Request, a *instances.Aggregate, full bool) any {
	b := aggregateBody{CreatedAt: novaTime(a.CreatedAt), ID: a.ID, Name: a.Name}
	if a.AvailabilityZone != "" {
		z := a.AvailabilityZone
		b.AvailabilityZone = &z
	}
	if !a.UpdatedAt.IsZero() {
		u := novaTime(a.UpdatedAt)
		b.UpdatedAt = &u
	}
	if mv(r).AtLeast(41) {
		b.UUID = a.UUID
	}
	if !full {
		return b
	}
	// hosts and metadata are always present in full answers, even empty.
	type fullBody struct {
		aggregateBody
		Hosts    []string          `json:"hosts"`
		Metadata map[string]string `json:"metadata"`
	}
	f := fullBody{aggregateBody: b, Hosts: a.Hosts, Metadata: a.Metadata}
	if f.Hosts == nil {
		f.Hosts = []string{}
	}
	if f.Metadata == nil {
		f.Metadata = map[string]string{}
	}
	return f
}

// aggregateID checks a path id is an integer, as Nova's validate_integer.
func aggregateID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if _, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64); err != nil {
		return "", fault.BadRequestf("Invalid input received: id must be an integer")
	}
	return strings.TrimSpace(id), nil
}

func (h *handlers) listAggregates(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.Aggregates(r.Context(), principal(r))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(list))
	for i := range list {
		out = append(out, toAggregate(r, &list[i], true))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"aggregates": out})
}

// zoneField reads an availability zone name (az_name: a name without
// ':'), or null; legacy (v2.0) allows surrounding spaces.
func zoneField(field string, raw json.RawMessage, legacy bool) (*string, error) {
	if isNull(raw) {
		return nil, nil
	}
	s, err := jsonString(field, raw)
	if err != nil {
		return nil, invalidField(field, raw, pyRepr(raw)+" is not valid under any of the given schemas")
	}
	if err := stringLen(field, raw, s, 1, 255); err != nil {
		return nil, invalidField(field, raw, pyRepr(raw)+" is not valid under any of the given schemas")
	}
	ok := validName(s)
	if legacy {
		ok = validNameWithSpaces(s)
	}
	if !ok || strings.Contains(s, ":") {
		return nil, invalidField(field, raw, pyRepr(raw)+" is not valid under any of the given schemas")
	}
	return &s, nil
}

// aggregateFields reads {"aggregate": {...}} for create (name required)
// or update (name or availability_zone).
func aggregateFields(r *http.Request, create bool) (name *string, zone **string, err error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, nil, err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return nil, nil, err
	}
	if err := body.check("", raw, []string{"aggregate"}, "aggregate"); err != nil {
		return nil, nil, err
	}
	agg, err := objectAt(body["aggregate"], "aggregate")
	if err != nil {
		return nil, nil, err
	}
	var required []string
	if create {
		required = []string{"name"}
	}
	if err := agg.check("aggregate", body["aggregate"], []string{"name", "availability_zone"}, required...); err != nil {
		return nil, nil, err
	}
	if !create && !agg.has("name") && !agg.has("availability_zone") {
		return nil, nil, invalidField("aggregate", body["aggregate"], pyRepr(body["aggregate"])+" is not valid under any of the given schemas")
	}
	legacy := mv(r).Legacy()
	if v, ok := agg["name"]; ok {
		n, err := nameField("name", v, legacy || !create)
		if err != nil {
			return nil, nil, err
		}
		n = strings.TrimSpace(n) // Nova's normalize_name
		name = &n
	}
	if v, ok := agg["availability_zone"]; ok {
		z, err := zoneField("availability_zone", v, legacy)
		if err != nil {
			return nil, nil, err
		}
		if z != nil {
			t := strings.TrimSpace(*z)
			z = &t
		}
		zone = &z
	}
	return name, zone, nil
}

func (h *handlers) createAggregate(w http.ResponseWriter, r *http.Request) error {
	name, zone, err := aggregateFields(r, true)
	if err != nil {
		return err
	}
	z := ""
	if zone != nil && *zone != nil {
		z = **zone
	}
	a, err := h.svc.CreateAggregate(r.Context(), principal(r), *name, z)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"aggregate": toAggregate(r, a, false)})
}

func (h *handlers) showAggregate(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.authorize(principal(r), policyAggregatesShow, map[string]any{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	a, err := h.svc.Aggregate(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"aggregate": toAggregate(r, a, true)})
}

func (h *handlers) updateAggregate(w http.ResponseWriter, r *http.Request) error {
	name, zone, err := aggregateFields(r, false)
	if err != nil {
		return err
	}
	if err := h.svc.authorize(principal(r), policyAggregatesUpdate, map[string]any{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	a, err := h.svc.UpdateAggregate(r.Context(), principal(r), id, name, zone)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"aggregate": toAggregate(r, a, true)})
}

func (h *handlers) deleteAggregate(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.authorize(principal(r), policyAggregatesDelete, map[string]any{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteAggregate(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusOK)
}

var metadataKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

// aggregateAction is POST /os-aggregates/{id}/action: add_host,
// remove_host, set_metadata.
func (h *handlers) aggregateAction(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	var action string
	for _, k := range []string{"add_host", "remove_host", "set_metadata"} {
		if body.has(k) {
			action = k
			break
		}
	}
	if action == "" {
		return fault.BadRequestf("There is no such action: %s", firstKey(body))
	}
	if err := body.check("", raw, []string{action}, action); err != nil {
		return err
	}
	arg, err := objectAt(body[action], action)
	if err != nil {
		return err
	}
	ctx, p := r.Context(), principal(r)
	var a *instances.Aggregate
	switch action {
	case "add_host", "remove_host":
		if err := arg.check(action, body[action], []string{"host"}, "host"); err != nil {
			return err
		}
		host, err := fqdnField("host", arg["host"])
		if err != nil {
			return err
		}
		rule := policyAggregatesAddHost
		if action == "remove_host" {
			rule = policyAggregatesRemoveHost
		}
		if err := h.svc.authorize(p, rule, map[string]any{}); err != nil {
			return err
		}
		id, err := aggregateID(r)
		if err != nil {
			return err
		}
		if action == "add_host" {
			a, err = h.svc.AddAggregateHost(ctx, p, id, host)
		} else {
			a, err = h.svc.RemoveAggregateHost(ctx, p, id, host)
		}
		if err != nil {
			return err
		}
	case "set_metadata":
		if err := arg.check(action, body[action], []string{"metadata"}, "metadata"); err != nil {
			return err
		}
		md, err := metadataWithNull("metadata", arg["metadata"])
		if err != nil {
			return err
		}
		if err := h.svc.authorize(p, policyAggregatesSetMetadata, map[string]any{}); err != nil {
			return err
		}
		id, err := aggregateID(r)
		if err != nil {
			return err
		}
		if a, err = h.svc.SetAggregateMetadata(ctx, p, id, md); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"aggregate": toAggregate(r, a, true)})
}

func firstKey(o jsonObject) string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "None"
	}
	return keys[0]
}

// metadataWithNull is Nova's metadata_with_null: keys of 1-255 of
// [a-zA-Z0-9-_:. ], values strings of at most 255 characters or null.
func metadataWithNull(field string, raw json.RawMessage) (map[string]*string, error) {
	o, err := objectAt(raw, field)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]*string, len(o))
	for _, k := range keys {
		v := o[k]
		if !metadataKeyPattern.MatchString(k) {
			return nil, invalidField(field, raw, "Additional properties are not allowed ('"+k+"' was unexpected)")
		}
		if isNull(v) {
			out[k] = nil
			continue
		}
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return nil, invalidField(k, v, pyRepr(v)+" is not of type 'string', 'null'")
		}
		if len([]rune(s)) > 255 {
			return nil, invalidField(k, v, pyRepr(v)+" is too long")
		}
		out[k] = &s
	}
	return out, nil
}

// aggregateImages is POST /os-aggregates/{id}/images (2.81).
func (h *handlers) aggregateImages(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	if err := body.check("", raw, []string{"cache"}, "cache"); err != nil {
		return err
	}
	var items []json.RawMessage
	if c := body["cache"]; len(c) == 0 || c[0] != '[' || json.Unmarshal(c, &items) != nil {
		return invalidField("cache", c, pyRepr(c)+" is not of type 'array'")
	}
	if len(items) == 0 {
		return invalidField("cache", body["cache"], "[] should be non-empty")
	}
	var ids []string
	for _, it := range items {
		o, err := objectAt(it, "cache")
		if err != nil {
			return err
		}
		if err := o.check("cache", it, []string{"id"}, "id"); err != nil {
			return err
		}
		id, err := jsonString("id", o["id"])
		if err != nil {
			return err
		}
		if !isUUIDLike(id) {
			return invalidField("id", o["id"], pyRepr(o["id"])+" is not a 'uuid'")
		}
		ids = append(ids, id)
	}
	if err := h.svc.authorize(principal(r), policyAggregatesImages, map[string]any{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	return h.svc.CacheAggregateImages(r.Context(), principal(r), id, ids)
}
