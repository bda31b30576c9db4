package compute

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Servers: create, list, show, update, delete (Nova's servers.py and the
// parts of compute/api.py the API process runs). The conductor does the
// rest of a build, picked from the task queue.

// ServerSpec is a create request whose form the handler has checked.
type ServerSpec struct {
	Name        string
	Description *string // 2.19; before, the name
	Hostname    string  // 2.90; "" = from the name
	ImageRef    string  // image id ("" only with an image block device)
	FlavorRef   string
	KeyName     string
	UserData    []byte
	Metadata    map[string]string
	Tags        []string
	// AvailabilityZone as given, "zone", "zone:host", "zone::node" or
	// "zone:host:node".
	AvailabilityZone    string
	ConfigDrive         bool
	MinCount, MaxCount  int
	AccessIPv4          string
	AccessIPv6          string
	AutoDiskConfig      bool
	AdminPass           string // "" = generated
	Networks            []NetworkRequest
	SchedulerHints      map[string][]string
	TrustedCerts        []string
	Host, Node          string // 2.74 host and hypervisor_hostname
	BlockDevices        []BlockDevice
	ReturnReservationID bool
	// SecurityGroups as given, echoed in the answer (nothing enforces
	// them without a network service).
	SecurityGroups json.RawMessage

	// Token is the caller's token, to read the image with.
	Token string
	// RequestID is the API request's, for the create action.
	RequestID string
}

// NetworkRequest is one item of networks, or Auto/None.
type NetworkRequest struct {
	Auto, None bool
	UUID       string
	Port       string
	FixedIP    string
}

// BlockDevice is one item of block_device_mapping_v2.
type BlockDevice struct {
	SourceType      string // image, volume, snapshot, blank
	DestinationType string // local, volume
	UUID            string
	BootIndex       *int
	VolumeSize      *int64
}

// Created is what creating servers gives: the servers, their reservation
// id and the admin password of the first one.
type Created struct {
	Servers       []*instances.Instance
	ReservationID string
	AdminPass     string
}

// RegisterServerQuota makes quota usage count servers (instances, cores
// and ram of every server not deleted); New calls it.
func (s *Service) RegisterServerQuota() {
	s.AddUsageCounter(func(ctx context.Context, q Querier, projectID, userID string) (map[string]int64, error) {
		n, cores, ram, err := s.instances.CountUsage(ctx, q, projectID, userID)
		if err != nil {
			return nil, fmt.Errorf("count servers: %w", err)
		}
		return map[string]int64{"instances": n, "cores": cores, "ram": ram}, nil
	})
}

// serverNotFound is Nova's 404 of a server.
func serverNotFound(uuid string) error {
	return fault.NotFoundf("Instance %s could not be found.", uuid)
}

// serverConflict is Nova's raise_http_conflict_for_instance_invalid_state.
func serverConflict(action, uuid, attr, state string) error {
	return fault.Conflictf("Cannot '%s' instance %s while it is in %s %s", action, uuid, attr, state)
}

// serverLocked is Nova's InstanceIsLocked: only admins act on a locked
// server.
func (s *Service) serverLocked(p *authn.Principal, inst *instances.Instance) error {
	if inst.Locked && !s.isAdmin(p) {
		return fault.Conflictf("Instance %s is locked", inst.UUID)
	}
	return nil
}

// parseZone is Nova's parse_availability_zone: admins may name a host
// and node as "zone:host:node" or "zone::node".
func parseZone(az string) (zone, host, node string, err error) {
	if !strings.Contains(az, ":") {
		return az, "", "", nil
	}
	switch strings.Count(az, ":") {
	case 1:
		zone, host, _ = strings.Cut(az, ":")
	case 2:
		if strings.Contains(az, "::") {
			zone, node, _ = strings.Cut(az, "::")
		} else {
			parts := strings.Split(az, ":")
			zone, host, node = parts[0], parts[1], parts[2]
		}
	default:
		return "", "", "", fault.BadRequestf("Invalid input received: Unable to parse availability_zone")
	}
	return zone, host, node, nil
}

var (
	hostnameStrip   = regexp.MustCompile(`[ _.]`)
	hostnameInvalid = regexp.MustCompile(`[^\w.-]+`)
)

// sanitizeHostname is Nova's utils.sanitize_hostname.
func sanitizeHostname(name, def string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 256 {
			b.WriteRune(r)
		}
	}
	h := b.String()
	if len([]rune(h)) > 63 {
		h = string([]rune(h)[:63])
	}
	h = hostnameStrip.ReplaceAllString(h, "-")
	h = hostnameInvalid.ReplaceAllString(h, "")
	h = strings.ToLower(h)
	h = strings.Trim(h, ".-")
	if h == "" {
		h = def
		if len(h) > 63 {
			h = h[:63]
		}
	}
	return h
}

const randChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomString is n characters from alphabet.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// serverFlavor is the copy of a flavor a server keeps.
func serverFlavor(f *Flavor) instances.Flavor {
	return instances.Flavor{FlavorID: f.FlavorID, Name: f.Name, MemoryMB: f.MemoryMB, VCPUs: f.VCPUs,
		RootGB: f.RootGB, EphemeralGB: f.EphemeralGB, SwapMB: f.SwapMB, RXTXFactor: f.RXTXFactor,
		Description: f.Description, ExtraSpecs: f.ExtraSpecs}
}

const gib = 1 << 30

// checkImageFlavor is Nova's _validate_flavor_image_nostatus for a local
// root disk.
func (s *Service) checkImageFlavor(p *authn.Principal, img *ImageInfo, f *Flavor) error {
	if f.MemoryMB < img.MinRAMMB {
		return fault.BadRequestf("Flavor's memory is too small for requested image.")
	}
	dest := f.RootGB * gib
	if dest == 0 {
		if !s.allowed(p, policyServerZeroDisk, nil) {
			return fault.Forbiddenf("Only volume-backed servers are allowed for flavors with zero disk.")
		}
		return nil
	}
	if img.Size > dest {
		return fault.BadRequestf("Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
			dest, img.Size)
	}
	if img.MinDiskGB*gib > dest {
		return fault.BadRequestf("Flavor's disk is smaller than the minimum size specified in image metadata. "+
			"Flavor disk is %d bytes, minimum size is %d bytes.", dest, img.MinDiskGB*gib)
	}
	return nil
}

// image reads an image for a server as Nova's _check_requested_image.
func (s *Service) serverImage(ctx context.Context, token, id string) (*ImageInfo, error) {
	if s.images == nil {
		return nil, fault.New(fault.Unavailable, "The image service is not configured.")
	}
	img, err := s.images.GetImage(ctx, token, id)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, fault.BadRequestf("Can not find requested image")
	}
	if err != nil {
		return nil, fmt.Errorf("get image %s: %w", id, err)
	}
	if img.Status != "active" {
		return nil, fault.BadRequestf("Image %s is not active.", id)
	}
	if img.Properties != nil {
		if v, ok := img.Properties["img_config_drive"]; ok && v != "optional" && v != "mandatory" {
			return nil, fault.BadRequestf("Image's config drive option '%s' is invalid", v)
		}
	}
	return img, nil
}

// CreateServers creates min..max servers as Nova's compute API create:
// checks, quota in the transaction that inserts them, then one build
// task each for the conductor.
func (s *Service) CreateServers(ctx context.Context, p *authn.Principal, spec ServerSpec) (*Created, error) {
	target := map[string]any{"project_id": p.ProjectID, "user_id": p.UserID, "availability_zone": spec.AvailabilityZone}
	if err := s.authorize(p, policyServerCreate, target); err != nil {
		return nil, err
	}
	if len(spec.TrustedCerts) > 0 {
		if err := s.authorize(p, policyServerTrustedCerts, target); err != nil {
			return nil, err
		}
	}
	if s.bus == nil {
		return nil, fault.New(fault.Unavailable, "The compute conductor is not reachable.")
	}
	zone, host, node, err := parseZone(spec.AvailabilityZone)
	if err != nil {
		return nil, err
	}
	if zone == "" {
		zone = s.cfg.DefaultScheduleZone // checked below as a requested one, as Nova's
	}
	if host != "" || node != "" {
		if err := s.authorize(p, policyServerForcedHost, target); err != nil {
			return nil, err
		}
	}
	if spec.Host != "" || spec.Node != "" {
		if err := s.authorize(p, policyServerRequestedDest, target); err != nil {
			return nil, err
		}
		if host != "" || node != "" {
			return nil, fault.BadRequestf("One mechanism with host and/or hypervisor_hostname and another mechanism with zone:host:node are mutually exclusive.")
		}
	}
	imageID, err := s.bootImage(p, target, &spec)
	if err != nil {
		return nil, err
	}
	if err := s.checkNetworks(p, target, spec.Networks); err != nil {
		return nil, err
	}
	if spec.MinCount <= 0 {
		spec.MinCount = 1
	}
	if spec.MaxCount <= 0 {
		spec.MaxCount = spec.MinCount
	}
	if spec.MinCount > spec.MaxCount {
		return nil, fault.BadRequestf("min_count must be <= max_count")
	}
	if spec.Hostname != "" && spec.MaxCount > 1 {
		return nil, fault.BadRequestf("Unable to allow setting hostname for multiple instances.")
	}

	f, err := getFlavor(ctx, s.db, spec.FlavorRef, s.isAdmin(p), projectOf(p))
	if err != nil {
		return nil, err
	}
	if f == nil || f.Disabled {
		return nil, fault.BadRequestf("Flavor %s could not be found.", spec.FlavorRef)
	}
	img, err := s.serverImage(ctx, spec.Token, imageID)
	if err != nil {
		return nil, err
	}
	if err := s.checkImageFlavor(p, img, f); err != nil {
		return nil, err
	}
	var key *KeyPair
	if spec.KeyName != "" {
		if key, err = getKeyPair(ctx, s.db, p.UserID, spec.KeyName); err != nil {
			return nil, err
		}
		if key == nil {
			return nil, fault.BadRequestf("Invalid key_name provided.")
		}
	}
	if zone != "" && host == "" {
		if err := s.checkZone(ctx, p, zone); err != nil {
			return nil, err
		}
	}
	group := ""
	if g := spec.SchedulerHints["group"]; len(g) > 0 {
		group = g[0]
		sg, err := s.instances.GetServerGroup(ctx, group)
		if errors.Is(err, instances.ErrNotFound) || (err == nil && sg.ProjectID != p.ProjectID && !s.isAdmin(p)) {
			return nil, fault.BadRequestf("Instance group %s could not be found.", group)
		}
		if err != nil {
			return nil, err
		}
	}

	out := &Created{ReservationID: "r-" + randomString(8, randChars), AdminPass: spec.AdminPass}
	if out.AdminPass == "" {
		out.AdminPass = generatePassword()
	}
	now := s.now().UTC()
	imageInfo := img.Image
	imageInfo.ID = imageID
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkMetadataQuota(ctx, s.db.Cached(tx), p.ProjectID, len(spec.Metadata)); err != nil {
			return err
		}
		n, err := s.reserveInstances(ctx, tx, p, f, spec.MinCount, spec.MaxCount)
		if err != nil {
			return err
		}
		out.Servers = out.Servers[:0]
		for i := range n {
			inst := s.newInstance(p, &spec, f, key, imageInfo, zone, host, node, group, n, i)
			inst.ReservationID = out.ReservationID
			action := instances.Action{Action: "create", UUID: inst.UUID, RequestID: spec.RequestID,
				UserID: p.UserID, ProjectID: p.ProjectID, StartTime: now}
			if err := s.instances.CreateTx(ctx, tx, inst, action); err != nil {
				return fmt.Errorf("create instance: %w", err)
			}
			if group != "" {
				if err := s.instances.AddGroupMember(ctx, tx, group, inst.UUID); err != nil {
					return fmt.Errorf("add instance to group %s: %w", group, err)
				}
			}
			out.Servers = append(out.Servers, inst)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, inst := range out.Servers {
		t := tasks.Task{Kind: tasks.Build, UUID: inst.UUID, RequestID: spec.RequestID, ProjectID: p.ProjectID,
			UserID: p.UserID, AvailabilityZone: zone}
		if err := tasks.Enqueue(ctx, s.bus, t); err != nil {
			s.failBuild(ctx, inst.UUID, "Failed to queue the build of the instance.", err)
			return nil, fmt.Errorf("queue build of %s: %w", inst.UUID, err)
		}
	}
	return out, nil
}

// failBuild puts a server whose build could not be queued in ERROR, so it
// is never stuck in BUILD.
func (s *Service) failBuild(ctx context.Context, uuid, msg string, cause error) {
	ctx = context.WithoutCancel(ctx)
	_, err := s.instances.Update(ctx, uuid, instances.Guard{ExpectTask: []string{instances.TaskScheduling}},
		func(inst *instances.Instance) error {
			inst.VMState, inst.TaskState = instances.Error, ""
			return nil
		})
	if err == nil {
		err = s.instances.AddFault(ctx, uuid, instances.Fault{Code: 500, Message: msg, Details: cause.Error(), Created: s.now()})
	}
	if err != nil {
		s.log.ErrorContext(ctx, "cannot mark unqueued build as failed", "instance", uuid, "err", err)
	}
}

// bootImage is the image the server boots: imageRef, or the image of a
// block device mapping that is the same thing (source image, destination
// local, boot index 0). Volumes need a block storage service there is not.
func (s *Service) bootImage(p *authn.Principal, target map[string]any, spec *ServerSpec) (string, error) {
	imageID := spec.ImageRef
	for _, bd := range spec.BlockDevices {
		dest := bd.DestinationType
		switch {
		case bd.SourceType == "volume":
			return "", fault.BadRequestf("Volume %s could not be found.", bd.UUID)
		case bd.SourceType == "snapshot":
			return "", fault.BadRequestf("Snapshot %s could not be found.", bd.UUID)
		case dest == "volume":
			return "", fault.BadRequestf("Block Device Mapping is Invalid: there is no block storage service to create volumes in.")
		case bd.SourceType == "image" && (dest == "local" || dest == "") && bd.BootIndex != nil && *bd.BootIndex == 0:
			if imageID != "" && bd.UUID != imageID {
				return "", fault.BadRequestf("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
			}
			imageID = bd.UUID
		case bd.SourceType == "blank" && dest == "local":
			return "", fault.BadRequestf("Block Device Mapping is Invalid: ephemeral and swap disks are not supported.")
		default:
			return "", fault.BadRequestf("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
		}
	}
	if len(spec.BlockDevices) > 0 {
		if err := s.authorize(p, policyServerAttachVolume, target); err != nil {
			return "", err
		}
	}
	if imageID == "" {
		return "", fault.BadRequestf("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
	}
	return imageID, nil
}

// checkNetworks accepts "auto" and "none" (nothing to allocate without a
// network service); any network or port named cannot exist.
func (s *Service) checkNetworks(p *authn.Principal, target map[string]any, nets []NetworkRequest) error {
	for _, n := range nets {
		if n.Auto || n.None {
			continue
		}
		if err := s.authorize(p, policyServerAttachNetwork, target); err != nil {
			return err
		}
		if n.Port != "" {
			return fault.BadRequestf("Port id %s could not be found.", n.Port)
		}
		return fault.BadRequestf("Network %s could not be found.", n.UUID)
	}
	return nil
}

// checkZone is Nova's check that a requested zone is available.
func (s *Service) checkZone(ctx context.Context, p *authn.Principal, zone string) error {
	zones, err := s.AvailabilityZones(ctx, p, false)
	if err != nil {
		return err
	}
	for _, z := range zones {
		if z.Name == zone && z.Available {
			return nil
		}
	}
	return fault.BadRequestf("The requested availability zone is not available")
}

// checkMetadataQuota is Nova's _check_metadata_properties_quota.
func (s *Service) checkMetadataQuota(ctx context.Context, q querier, projectID string, n int) error {
	if n == 0 {
		return nil
	}
	limits, err := s.effectiveLimits(ctx, q, projectID, "")
	if err != nil {
		return err
	}
	if l := limits["metadata_items"]; !unlimited(l) && int64(n) > l {
		return fault.Forbiddenf("Maximum number of metadata items exceeds %d", l)
	}
	return nil
}

// reserveInstances is Nova's check_num_instances_quota: as many servers
// as quota allows between min and max, or Nova's TooManyInstances.
func (s *Service) reserveInstances(ctx context.Context, tx *sql.Tx, p *authn.Principal, f *Flavor, minN, maxN int) (int, error) {
	deltas := func(n int) map[string]int64 {
		return map[string]int64{"instances": int64(n), "cores": int64(n) * f.VCPUs, "ram": int64(n) * f.MemoryMB}
	}
	err := s.CheckQuota(ctx, tx, p.ProjectID, p.UserID, deltas(maxN))
	var oq *OverQuotaError
	if !errors.As(err, &oq) {
		return maxN, err
	}
	limits, lerr := s.effectiveLimits(ctx, tx, p.ProjectID, "")
	if lerr != nil {
		return 0, lerr
	}
	used, uerr := s.usages(ctx, tx, p.ProjectID, "")
	if uerr != nil {
		return 0, uerr
	}
	headroom := func(res string) int64 {
		if unlimited(limits[res]) {
			return 1 << 40
		}
		return limits[res] - used[res]
	}
	allowed := headroom("instances")
	if f.VCPUs > 0 {
		allowed = min(allowed, headroom("cores")/f.VCPUs)
	}
	if f.MemoryMB > 0 {
		allowed = min(allowed, headroom("ram")/f.MemoryMB)
	}
	if allowed >= int64(minN) && allowed < int64(maxN) {
		if err := s.CheckQuota(ctx, tx, p.ProjectID, p.UserID, deltas(int(allowed))); err == nil {
			return int(allowed), nil
		}
	}
	num := fmt.Sprint(minN)
	if minN != maxN {
		num = fmt.Sprintf("%d-%d", minN, maxN)
	}
	requested := map[string]string{"instances": num, "cores": fmt.Sprint(int64(maxN) * f.VCPUs),
		"ram": fmt.Sprint(int64(maxN) * f.MemoryMB)}
	var reqs, useds, alloweds []string
	for _, res := range oq.Overs {
		reqs = append(reqs, requested[res])
		useds = append(useds, fmt.Sprint(oq.Used[res]))
		alloweds = append(alloweds, fmt.Sprint(oq.Allowed[res]))
	}
	overs := strings.Join(oq.Overs, ", ")
	return 0, fault.Forbiddenf("Quota exceeded for %s: Requested %s, but already used %s of %s %s",
		overs, strings.Join(reqs, ", "), strings.Join(useds, ", "), strings.Join(alloweds, ", "), overs)
}

// newInstance is the record of the i-th of n servers of a request.
func (s *Service) newInstance(p *authn.Principal, spec *ServerSpec, f *Flavor, key *KeyPair, img instances.Image,
	zone, host, node, group string, n, i int) *instances.Instance {
	id := uuid.NewString()
	now := s.now().UTC()
	name := spec.Name
	if n > 1 {
		name = fmt.Sprintf("%s-%d", spec.Name, i+1)
	}
	desc := spec.Description
	hostname := spec.Hostname
	if hostname == "" {
		hostname = sanitizeHostname(name, "Server-"+id)
	}
	inst := &instances.Instance{
		UUID: id, Name: name, Description: desc, ProjectID: p.ProjectID, UserID: p.UserID, Hostname: hostname,
		AvailabilityZone: zone, VMState: instances.Building, TaskState: instances.TaskScheduling,
		PowerState: instances.PowerNoState, Flavor: serverFlavor(f), ImageRef: img.ID,
		UserData: spec.UserData, ConfigDrive: spec.ConfigDrive || s.cfg.ForceConfigDrive, Metadata: spec.Metadata,
		Tags: slices.Clone(spec.Tags), AccessIPv4: spec.AccessIPv4, AccessIPv6: spec.AccessIPv6,
		AutoDiskConfig: spec.AutoDiskConfig, LaunchIndex: i, RootDeviceName: "/dev/vda",
		TrustedCerts: spec.TrustedCerts, CreatedAt: now,
		Spec: instances.RequestSpec{Image: img, AvailabilityZone: zone, ForceHost: firstNonEmpty(host, spec.Host),
			ForceNode: firstNonEmpty(node, spec.Node), SchedulerHints: spec.SchedulerHints, Group: group,
			NumInstances: n, Attempts: 0},
	}
	if inst.Metadata == nil {
		inst.Metadata = map[string]string{}
	}
	slices.Sort(inst.Tags)
	inst.Tags = slices.Compact(inst.Tags)
	if key != nil {
		inst.KeyName, inst.KeyData, inst.KeyType = key.Name, key.PublicKey, key.Type
	}
	return inst
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// GetServer returns a server the caller may see.
func (s *Service) GetServer(ctx context.Context, p *authn.Principal, uuid string) (*instances.Instance, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyServerShow, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return nil, err
	}
	return inst, nil
}

// ServerUpdate is what PUT /servers/{id} changes (nil leaves a field).
type ServerUpdate struct {
	Name           *string
	Description    **string
	Hostname       *string
	AccessIPv4     *string
	AccessIPv6     *string
	AutoDiskConfig *bool
}

// UpdateServer changes a server's name, description, hostname and access
// addresses.
func (s *Service) UpdateServer(ctx context.Context, p *authn.Principal, uuid string, u ServerUpdate) (*instances.Instance, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyServerUpdate, instanceTarget(inst)); err != nil {
		return nil, err
	}
	out, err := s.instances.Update(ctx, uuid, instances.Guard{}, func(i *instances.Instance) error {
		if u.Name != nil {
			i.Name = *u.Name
		}
		if u.Description != nil {
			i.Description = *u.Description
		}
		if u.Hostname != nil {
			i.Hostname = *u.Hostname
		}
		if u.AccessIPv4 != nil {
			i.AccessIPv4 = *u.AccessIPv4
		}
		if u.AccessIPv6 != nil {
			i.AccessIPv6 = *u.AccessIPv6
		}
		if u.AutoDiskConfig != nil {
			i.AutoDiskConfig = *u.AutoDiskConfig
		}
		return nil
	})
	if errors.Is(err, instances.ErrNotFound) {
		return nil, fault.NotFoundf("Instance could not be found")
	}
	return out, err
}

// DeleteServer deletes a server: one never placed on a host, or on a host
// whose compute service is down, right away (Nova's local delete); any
// other by the conductor, after its task state became deleting.
func (s *Service) DeleteServer(ctx context.Context, p *authn.Principal, uuid, requestID string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyServerDelete, instanceTarget(inst)); err != nil {
		return err
	}
	if err := s.serverLocked(p, inst); err != nil {
		return err
	}
	if inst.TaskState == instances.TaskDeleting {
		return nil
	}
	if s.bus != nil {
		_ = s.instances.StartAction(ctx, &instances.Action{Action: "delete", UUID: uuid, RequestID: requestID,
			UserID: p.UserID, ProjectID: p.ProjectID, StartTime: s.now().UTC()})
	}
	local := inst.Host == "" || s.bus == nil
	if !local {
		local = s.hostStatus(ctx, inst.Host) == hostDown || s.computeDown(ctx, inst.Host)
	}
	if local {
		if _, err := s.instances.Destroy(ctx, uuid); err != nil {
			if errors.Is(err, instances.ErrNotFound) {
				return fault.NotFoundf("Instance could not be found")
			}
			return fmt.Errorf("delete instance %s: %w", uuid, err)
		}
		return nil
	}
	// Delete wins over any task under way, as Nova's: the conductor's
	// own writes are guarded by the task state they expect, so they fail
	// once it is deleting, and the delete task cleans up after them.
	_, err = s.instances.Update(ctx, uuid, instances.Guard{}, func(i *instances.Instance) error {
		i.TaskState = instances.TaskDeleting
		return nil
	})
	switch {
	case errors.Is(err, instances.ErrNotFound):
		return fault.NotFoundf("Instance could not be found")
	case err != nil:
		return err
	}
	t := tasks.Task{Kind: tasks.Delete, UUID: uuid, RequestID: requestID, ProjectID: p.ProjectID, UserID: p.UserID}
	if err := tasks.Enqueue(ctx, s.bus, t); err != nil {
		return fmt.Errorf("queue delete of %s: %w", uuid, err)
	}
	return nil
}

// computeDown reports whether the compute service of host is known and
// has not reported within service_down_time.
func (s *Service) computeDown(ctx context.Context, host string) bool {
	svcs, err := s.instances.ListServices(ctx, host, computeBinary)
	if err != nil || len(svcs) == 0 {
		return false
	}
	return !s.computeUp(&svcs[0])
}
