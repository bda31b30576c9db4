package compute

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// Handlers of servers: request bodies checked as Nova's schemas
// (schemas/servers.py) per microversion, then one Service call.

// idFromHref is Nova's get_id_from_href: the last path segment.
func idFromHref(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// tagField reads Nova's tag parameter type.
func tagField(field string, raw json.RawMessage) (string, error) {
	s, err := jsonString(field, raw)
	if err != nil {
		return "", err
	}
	if err := stringLen(field, raw, s, 1, 60); err != nil {
		return "", err
	}
	if strings.ContainsAny(s, ",/") {
		return "", invalidField(field, raw, pyRepr(raw)+" does not match '^[^,/]*$'")
	}
	return s, nil
}

// maxTags is Nova's objects.instance.MAX_TAG_COUNT.
const maxTags = 50

func tagsField(field string, raw json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, invalidField(field, raw, pyRepr(raw)+" is not of type 'array'")
	}
	if len(items) > maxTags {
		return nil, invalidField(field, raw, pyRepr(raw)+" is too long")
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		t, err := tagField(field, it)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func arrayField(field string, raw json.RawMessage) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, invalidField(field, raw, pyRepr(raw)+" is not of type 'array'")
	}
	return items, nil
}

func ipField(field string, raw json.RawMessage, v4, v6 bool) (string, error) {
	s, err := jsonString(field, raw)
	if err != nil {
		return "", err
	}
	a, perr := netip.ParseAddr(s)
	ok := perr == nil && ((v4 && a.Is4()) || (v6 && a.Is6()))
	if !ok {
		switch {
		case v4 && v6:
			return "", invalidField(field, raw, pyRepr(raw)+" is not valid under any of the given schemas")
		case v4:
			return "", invalidField(field, raw, pyRepr(raw)+" is not a 'ipv4'")
		default:
			return "", invalidField(field, raw, pyRepr(raw)+" is not a 'ipv6'")
		}
	}
	if v6 && !v4 {
		return canonicalIPv6(s), nil
	}
	return s, nil
}

// canonicalIPv6 is the form Nova stores accessIPv6 in (its IPV6AddressField
// through netaddr): "0000:0000:0000:0000:0000:babe:220.12.22.2" is
// "::babe:dc0c:1602".
func canonicalIPv6(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return s
	}
	return a.String()
}

// positiveCount reads Nova's positive_integer (min_count, max_count).
func positiveCount(field string, raw json.RawMessage) (int, error) {
	n, err := intLike(field, raw, 1, 1<<31-1)
	return int(n), err
}

var (
	hostnamePattern = regexp.MustCompile(`^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$`)
	fqdnChars       = regexp.MustCompile(`^[a-zA-Z0-9-._]*$`)
)

// hostnameField is Nova's hostname (2.90) or, from 2.94, fqdn.
func hostnameField(r *http.Request, raw json.RawMessage) (string, error) {
	s, err := jsonString("hostname", raw)
	if err != nil {
		return "", err
	}
	if mv(r).AtLeast(94) {
		if err := stringLen("hostname", raw, s, 1, 255); err != nil {
			return "", err
		}
		if !fqdnChars.MatchString(s) {
			return "", invalidField("hostname", raw, pyRepr(raw)+" does not match '^[a-zA-Z0-9-._]*$'")
		}
		return s, nil
	}
	if err := stringLen("hostname", raw, s, 2, 63); err != nil {
		return "", err
	}
	if !hostnamePattern.MatchString(s) {
		return "", invalidField("hostname", raw, pyRepr(raw)+" does not match '^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$'")
	}
	return s, nil
}

// createFields are the members of "server" a microversion accepts.
func createFields(r *http.Request) []string {
	v := mv(r)
	f := []string{"name", "imageRef", "flavorRef", "adminPass", "metadata", "networks", "OS-DCF:diskConfig",
		"accessIPv4", "accessIPv6", "availability_zone", "block_device_mapping", "block_device_mapping_v2",
		"config_drive", "key_name", "min_count", "max_count", "return_reservation_id", "security_groups", "user_data"}
	if !v.AtLeast(57) {
		f = append(f, "personality")
	}
	if v.AtLeast(19) {
		f = append(f, "description")
	}
	if v.AtLeast(52) {
		f = append(f, "tags")
	}
	if v.AtLeast(63) {
		f = append(f, "trusted_image_certificates")
	}
	if v.AtLeast(74) {
		f = append(f, "host", "hypervisor_hostname")
	}
	if v.AtLeast(90) {
		f = append(f, "hostname")
	}
	return f
}

// readServerCreate checks a POST /servers body as Nova's create schemas.
func readServerCreate(r *http.Request) (ServerSpec, error) {
	var spec ServerSpec
	v := mv(r)
	raw, err := readBody(r)
	if err != nil {
		return spec, err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return spec, err
	}
	if err := body.check("", raw, []string{"server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"}, "server"); err != nil {
		return spec, err
	}
	srvRaw := body["server"]
	srv, err := objectAt(srvRaw, "server")
	if err != nil {
		return spec, err
	}
	required := []string{"name", "flavorRef"}
	if v.AtLeast(37) {
		required = append(required, "networks")
	}
	if err := srv.check("server", srvRaw, createFields(r), required...); err != nil {
		return spec, err
	}
	if spec.Name, err = nameField("name", srv["name"], v.Legacy()); err != nil {
		return spec, err
	}
	spec.Name = strings.TrimSpace(spec.Name)
	if v.AtLeast(19) {
		if d, ok := srv["description"]; ok {
			if spec.Description, err = descriptionField("description", d, 255); err != nil {
				return spec, err
			}
		}
	} else {
		name := spec.Name
		spec.Description = &name
	}
	if x, ok := srv["imageRef"]; ok {
		s, err := jsonString("imageRef", x)
		if err != nil {
			return spec, err
		}
		if v.Legacy() {
			s = idFromHref(s)
		}
		if s != "" && !uuidLike(s) {
			return spec, invalidField("imageRef", x, pyRepr(x)+" is not valid under any of the given schemas")
		}
		spec.ImageRef = s
	}
	fr := srv["flavorRef"]
	switch {
	case len(fr) > 0 && fr[0] == '"':
		s, _ := jsonString("flavorRef", fr)
		if s == "" {
			return spec, invalidField("flavorRef", fr, "'' should be non-empty")
		}
		spec.FlavorRef = idFromHref(s)
	default:
		f, isInt, ok := jsonNumber(fr)
		if !ok || !isInt {
			return spec, invalidField("flavorRef", fr, pyRepr(fr)+" is not of type 'string', 'integer'")
		}
		spec.FlavorRef = strconv.FormatInt(int64(f), 10)
	}
	if x, ok := srv["adminPass"]; ok {
		if spec.AdminPass, err = jsonString("adminPass", x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["metadata"]; ok {
		if spec.Metadata, err = metadataField("metadata", x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["networks"]; ok {
		if spec.Networks, err = readNetworks(r, x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["OS-DCF:diskConfig"]; ok {
		s, err := jsonString("OS-DCF:diskConfig", x)
		if err != nil {
			return spec, err
		}
		if s != "AUTO" && s != "MANUAL" {
			return spec, invalidField("OS-DCF:diskConfig", x, pyRepr(x)+" is not one of ['AUTO', 'MANUAL']")
		}
		spec.AutoDiskConfig = s == "AUTO"
	}
	if x, ok := srv["accessIPv4"]; ok {
		if spec.AccessIPv4, err = ipField("accessIPv4", x, true, false); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["accessIPv6"]; ok {
		if spec.AccessIPv6, err = ipField("accessIPv6", x, false, true); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["personality"]; ok {
		if _, err := arrayField("personality", x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["availability_zone"]; ok {
		if spec.AvailabilityZone, err = nameField("availability_zone", x, v.Legacy()); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["block_device_mapping"]; ok {
		items, err := arrayField("block_device_mapping", x)
		if err != nil {
			return spec, err
		}
		if len(items) > 0 {
			if srv.has("block_device_mapping_v2") {
				return spec, fault.BadRequestf("Using different block_device_mapping syntaxes is not allowed in the same request.")
			}
			return spec, fault.BadRequestf("Block Device Mapping is Invalid: there is no block storage service for volumes.")
		}
	}
	if x, ok := srv["block_device_mapping_v2"]; ok {
		if spec.BlockDevices, err = readBlockDevices(x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["config_drive"]; ok {
		if spec.ConfigDrive, err = novaBoolean("config_drive", x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["key_name"]; ok {
		if spec.KeyName, err = nameField("key_name", x, v.Legacy()); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["min_count"]; ok {
		if spec.MinCount, err = positiveCount("min_count", x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["max_count"]; ok {
		if spec.MaxCount, err = positiveCount("max_count", x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["return_reservation_id"]; ok {
		if spec.ReturnReservationID, err = novaBoolean("return_reservation_id", x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["security_groups"]; ok {
		items, err := arrayField("security_groups", x)
		if err != nil {
			return spec, err
		}
		spec.SecurityGroups = x
		for _, it := range items {
			o, err := objectAt(it, "security_groups")
			if err != nil {
				return spec, err
			}
			if err := o.check("security_groups", it, []string{"name"}); err != nil {
				return spec, err
			}
			if n, ok := o["name"]; ok {
				name, err := nameField("name", n, v.Legacy())
				if err != nil {
					return spec, err
				}
				// Without a network service the only group is the
				// default one every project has.
				if name != "default" {
					return spec, fault.BadRequestf("Security group %s not found.", name)
				}
			}
		}
	}
	if x, ok := srv["user_data"]; ok && !(v.Legacy() && isNull(x)) {
		s, err := jsonString("user_data", x)
		if err != nil {
			return spec, err
		}
		if len(s) > 65535 {
			return spec, invalidField("user_data", x, pyRepr(x)+" is too long")
		}
		data, derr := base64.StdEncoding.DecodeString(s)
		if derr != nil {
			return spec, invalidField("user_data", x, pyRepr(x)+" is not a 'base64'")
		}
		spec.UserData = data
	}
	if x, ok := srv["tags"]; ok {
		if spec.Tags, err = tagsField("tags", x); err != nil {
			return spec, err
		}
	}
	if x, ok := srv["trusted_image_certificates"]; ok && !isNull(x) {
		items, err := arrayField("trusted_image_certificates", x)
		if err != nil {
			return spec, err
		}
		if len(items) == 0 || len(items) > 50 {
			return spec, invalidField("trusted_image_certificates", x, pyRepr(x)+" is too short")
		}
		for _, it := range items {
			c, err := jsonString("trusted_image_certificates", it)
			if err != nil {
				return spec, err
			}
			spec.TrustedCerts = append(spec.TrustedCerts, c)
		}
	}
	for _, k := range []string{"host", "hypervisor_hostname"} {
		if x, ok := srv[k]; ok {
			s, err := jsonString(k, x)
			if err != nil {
				return spec, err
			}
			if err := stringLen(k, x, s, 1, 255); err != nil {
				return spec, err
			}
			if !fqdnChars.MatchString(s) {
				return spec, invalidField(k, x, pyRepr(x)+" does not match '^[a-zA-Z0-9-._]*$'")
			}
			if k == "host" {
				spec.Host = s
			} else {
				spec.Node = s
			}
		}
	}
	if x, ok := srv["hostname"]; ok {
		if spec.Hostname, err = hostnameField(r, x); err != nil {
			return spec, err
		}
	}
	hints := body["os:scheduler_hints"]
	if hints == nil {
		hints = body["OS-SCH-HNT:scheduler_hints"]
	}
	if hints != nil {
		if spec.SchedulerHints, err = readHints(hints); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// readNetworks reads networks: a list, or from 2.37 "auto" or "none".
func readNetworks(r *http.Request, raw json.RawMessage) ([]NetworkRequest, error) {
	v := mv(r)
	if len(raw) > 0 && raw[0] == '"' && v.AtLeast(37) {
		s, _ := jsonString("networks", raw)
		switch s {
		case "auto":
			return []NetworkRequest{{Auto: true}}, nil
		case "none":
			return []NetworkRequest{{None: true}}, nil
		}
		return nil, invalidField("networks", raw, pyRepr(raw)+" is not valid under any of the given schemas")
	}
	items, err := arrayField("networks", raw)
	if err != nil {
		if v.AtLeast(37) {
			return nil, invalidField("networks", raw, pyRepr(raw)+" is not valid under any of the given schemas")
		}
		return nil, err
	}
	allowed := []string{"fixed_ip", "port", "uuid"}
	if v == (Version{2, 32}) || v == (Version{2, 33}) || v.AtLeast(42) {
		allowed = append(allowed, "tag")
	}
	var out []NetworkRequest
	seenPorts := map[string]bool{}
	for _, it := range items {
		o, err := objectAt(it, "networks")
		if err != nil {
			return nil, err
		}
		if err := o.check("networks", it, allowed); err != nil {
			return nil, err
		}
		var n NetworkRequest
		if x, ok := o["fixed_ip"]; ok {
			if n.FixedIP, err = ipField("fixed_ip", x, true, true); err != nil {
				return nil, err
			}
		}
		if x, ok := o["port"]; ok && !isNull(x) {
			if n.Port, err = uuidField("port", x); err != nil {
				return nil, err
			}
		}
		if x, ok := o["uuid"]; ok {
			if n.UUID, err = jsonString("uuid", x); err != nil {
				return nil, err
			}
			if v.AtLeast(37) && !uuidLike(n.UUID) {
				return nil, invalidField("uuid", x, pyRepr(x)+" is not a 'uuid'")
			}
		}
		if x, ok := o["tag"]; ok {
			if _, err := tagField("tag", x); err != nil {
				return nil, err
			}
		}
		switch {
		case n.Port != "":
			if seenPorts[n.Port] {
				return nil, fault.BadRequestf("Port ID '%s' was specified twice: you cannot attach a port multiple times.", n.Port)
			}
			seenPorts[n.Port] = true
			if n.FixedIP != "" {
				return nil, fault.BadRequestf("Specified Fixed IP '%s' cannot be used with port '%s': the two cannot be specified together.",
					n.FixedIP, n.Port)
			}
		case n.UUID == "":
			return nil, fault.BadRequestf("Bad network format: missing 'uuid'")
		case !uuidLike(n.UUID):
			return nil, fault.BadRequestf("Bad networks format: network uuid is not in proper format (%s)", n.UUID)
		}
		out = append(out, n)
	}
	return out, nil
}

// readBlockDevices reads block_device_mapping_v2.
func readBlockDevices(raw json.RawMessage) ([]BlockDevice, error) {
	items, err := arrayField("block_device_mapping_v2", raw)
	if err != nil {
		return nil, err
	}
	allowed := []string{"virtual_name", "volume_id", "snapshot_id", "volume_size", "device_name",
		"delete_on_termination", "no_device", "connection_info", "source_type", "uuid", "image_id",
		"destination_type", "guest_format", "device_type", "disk_bus", "boot_index", "tag", "volume_type"}
	var out []BlockDevice
	for _, it := range items {
		o, err := objectAt(it, "block_device_mapping_v2")
		if err != nil {
			return nil, err
		}
		if err := o.check("block_device_mapping_v2", it, allowed); err != nil {
			return nil, err
		}
		var bd BlockDevice
		if x, ok := o["source_type"]; ok {
			if bd.SourceType, err = jsonString("source_type", x); err != nil {
				return nil, err
			}
			if !contains([]string{"volume", "image", "snapshot", "blank"}, bd.SourceType) {
				return nil, invalidField("source_type", x, pyRepr(x)+" is not one of ['volume', 'image', 'snapshot', 'blank']")
			}
		}
		if x, ok := o["destination_type"]; ok {
			if bd.DestinationType, err = jsonString("destination_type", x); err != nil {
				return nil, err
			}
			if bd.DestinationType != "local" && bd.DestinationType != "volume" {
				return nil, invalidField("destination_type", x, pyRepr(x)+" is not one of ['local', 'volume']")
			}
		}
		if x, ok := o["uuid"]; ok {
			if bd.UUID, err = jsonString("uuid", x); err != nil {
				return nil, err
			}
		}
		for k, src := range map[string]string{"image_id": "image", "volume_id": "volume", "snapshot_id": "snapshot"} {
			if x, ok := o[k]; ok {
				if bd.UUID, err = uuidField(k, x); err != nil {
					return nil, err
				}
				if bd.SourceType == "" {
					bd.SourceType = src
				}
			}
		}
		if x, ok := o["boot_index"]; ok && !isNull(x) {
			var n int64
			if len(x) > 0 && x[0] == '"' {
				s, _ := jsonString("boot_index", x)
				v, perr := strconv.ParseInt(s, 10, 32)
				if perr != nil {
					return nil, invalidField("boot_index", x, pyRepr(x)+" does not match '^-?[0-9]+$'")
				}
				n = v
			} else {
				f, isInt, ok := jsonNumber(x)
				if !ok || !isInt {
					return nil, invalidField("boot_index", x, pyRepr(x)+" is not of type 'integer', 'string', 'null'")
				}
				n = int64(f)
			}
			bi := int(n)
			bd.BootIndex = &bi
		}
		if x, ok := o["volume_size"]; ok && !isNull(x) {
			n, err := intLike("volume_size", x, 1, 0x7FFFFFFF)
			if err != nil {
				return nil, err
			}
			bd.VolumeSize = &n
		}
		if bd.SourceType == "" {
			return nil, fault.BadRequestf("Block Device Mapping is Invalid: Missing device UUID.")
		}
		out = append(out, bd)
	}
	return out, nil
}

// readHints reads scheduler hints: any members, values kept as lists of
// strings (Nova's scheduler sees them so).
func readHints(raw json.RawMessage) (map[string][]string, error) {
	o, err := objectAt(raw, "os:scheduler_hints")
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for k, v := range o {
		var list []any
		var one any
		if json.Unmarshal(v, &list) != nil {
			if err := json.Unmarshal(v, &one); err != nil {
				return nil, err
			}
			list = []any{one}
		}
		for _, it := range list {
			s, ok := it.(string)
			if !ok {
				b, _ := json.Marshal(it)
				s = string(b)
			}
			out[k] = append(out[k], s)
		}
		switch k {
		case "group", "different_host", "same_host":
			for _, s := range out[k] {
				if !uuidLike(s) {
					return nil, invalidField("os:scheduler_hints/"+k, v, pyRepr(v)+" is not valid under any of the given schemas")
				}
			}
			if k == "group" && len(out[k]) > 1 {
				return nil, invalidField("os:scheduler_hints/group", v, pyRepr(v)+" is not valid under any of the given schemas")
			}
		}
	}
	return out, nil
}

// token is the caller's token, to call other services as the caller.
func callerToken(r *http.Request, p *authn.Principal) string {
	if p != nil && p.Token != "" {
		return p.Token
	}
	return strings.TrimSpace(r.Header.Get(authn.HeaderAuthToken))
}

func (h *handlers) createServer(w http.ResponseWriter, r *http.Request) error {
	spec, err := readServerCreate(r)
	if err != nil {
		return err
	}
	p := principal(r)
	spec.Token = callerToken(r, p)
	spec.RequestID = r.Header.Get(httpx.RequestIDHeader)
	out, err := h.svc.CreateServers(r.Context(), p, spec)
	if err != nil {
		return err
	}
	if spec.ReturnReservationID {
		return writeJSON(w, http.StatusAccepted, map[string]any{"reservation_id": out.ReservationID})
	}
	inst := out.Servers[0]
	diskConfig := "MANUAL"
	if inst.AutoDiskConfig {
		diskConfig = "AUTO"
	}
	links := resourceLinks(r, "servers", inst.UUID)
	body := map[string]any{
		"id": inst.UUID, "links": links, "OS-DCF:diskConfig": diskConfig, "adminPass": out.AdminPass,
		"security_groups": []map[string]string{{"name": "default"}},
	}
	if spec.SecurityGroups != nil {
		body["security_groups"] = spec.SecurityGroups
	}
	w.Header().Set("Location", links[0].Href)
	return writeJSON(w, http.StatusAccepted, map[string]any{"server": body})
}

func (h *handlers) showServer(w http.ResponseWriter, r *http.Request) error {
	inst, err := h.svc.GetServer(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.writeServer(w, r, http.StatusOK, inst)
}

// readServerUpdate checks a PUT /servers/{id} body.
func readServerUpdate(r *http.Request) (ServerUpdate, error) {
	var u ServerUpdate
	v := mv(r)
	raw, err := readBody(r)
	if err != nil {
		return u, err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return u, err
	}
	if err := body.check("", raw, []string{"server"}, "server"); err != nil {
		return u, err
	}
	srv, err := objectAt(body["server"], "server")
	if err != nil {
		return u, err
	}
	allowed := []string{"name", "OS-DCF:diskConfig", "accessIPv4", "accessIPv6"}
	if v.AtLeast(19) {
		allowed = append(allowed, "description")
	}
	if v.AtLeast(90) {
		allowed = append(allowed, "hostname")
	}
	if err := srv.check("server", body["server"], allowed); err != nil {
		return u, err
	}
	if x, ok := srv["name"]; ok {
		n, err := nameField("name", x, v.Legacy())
		if err != nil {
			return u, err
		}
		n = strings.TrimSpace(n)
		u.Name = &n
	}
	if x, ok := srv["description"]; ok {
		d, err := descriptionField("description", x, 255)
		if err != nil {
			return u, err
		}
		u.Description = &d
	}
	if x, ok := srv["hostname"]; ok {
		hn, err := hostnameField(r, x)
		if err != nil {
			return u, err
		}
		u.Hostname = &hn
	}
	if x, ok := srv["accessIPv4"]; ok {
		a, err := ipField("accessIPv4", x, true, false)
		if err != nil {
			return u, err
		}
		u.AccessIPv4 = &a
	}
	if x, ok := srv["accessIPv6"]; ok {
		a, err := ipField("accessIPv6", x, false, true)
		if err != nil {
			return u, err
		}
		u.AccessIPv6 = &a
	}
	if x, ok := srv["OS-DCF:diskConfig"]; ok {
		s, err := jsonString("OS-DCF:diskConfig", x)
		if err != nil {
			return u, err
		}
		if s != "AUTO" && s != "MANUAL" {
			return u, invalidField("OS-DCF:diskConfig", x, pyRepr(x)+" is not one of ['AUTO', 'MANUAL']")
		}
		auto := s == "AUTO"
		u.AutoDiskConfig = &auto
	}
	return u, nil
}

func (h *handlers) updateServer(w http.ResponseWriter, r *http.Request) error {
	u, err := readServerUpdate(r)
	if err != nil {
		return err
	}
	inst, err := h.svc.UpdateServer(r.Context(), principal(r), r.PathValue("id"), u)
	if err != nil {
		return err
	}
	return h.writeServer(w, r, http.StatusOK, inst)
}

func (h *handlers) deleteServer(w http.ResponseWriter, r *http.Request) error {
	err := h.svc.DeleteServer(r.Context(), principal(r), r.PathValue("id"), r.Header.Get(httpx.RequestIDHeader))
	if err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}

// sortedUnique sorts and dedups a list of strings.
func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
