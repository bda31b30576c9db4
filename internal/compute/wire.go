package compute

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// JSON shapes of the API (api-ref field names), built per microversion.

// ---- flavors

type flavorBrief struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Links       []link          `json:"links"`
	Description json.RawMessage `json:"description,omitempty"` // 2.55
}

type flavorFull struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	RAM         int64           `json:"ram"`
	Disk        int64           `json:"disk"`
	Swap        any             `json:"swap"` // "" for none before 2.75
	Ephemeral   int64           `json:"OS-FLV-EXT-DATA:ephemeral"`
	Disabled    bool            `json:"OS-FLV-DISABLED:disabled"`
	VCPUs       int64           `json:"vcpus"`
	IsPublic    bool            `json:"os-flavor-access:is_public"`
	RXTXFactor  float64         `json:"rxtx_factor"`
	Links       []link          `json:"links"`
	Description json.RawMessage `json:"description,omitempty"` // 2.55
	ExtraSpecs  any             `json:"extra_specs,omitempty"` // 2.61, when policy allows
}

func descriptionJSON(d *string) json.RawMessage {
	if d == nil {
		return json.RawMessage("null")
	}
	b, _ := json.Marshal(*d)
	return b
}

func toFlavorBrief(r *http.Request, f *Flavor) flavorBrief {
	out := flavorBrief{ID: f.FlavorID, Name: f.Name, Links: resourceLinks(r, "flavors", f.FlavorID)}
	if mv(r).AtLeast(55) {
		out.Description = descriptionJSON(f.Description)
	}
	return out
}

func toFlavorFull(r *http.Request, f *Flavor, withSpecs bool) flavorFull {
	v := mv(r)
	out := flavorFull{
		ID: f.FlavorID, Name: f.Name, RAM: f.MemoryMB, Disk: f.RootGB, Swap: f.SwapMB, Ephemeral: f.EphemeralGB,
		Disabled: f.Disabled, VCPUs: f.VCPUs, IsPublic: f.IsPublic, RXTXFactor: f.RXTXFactor,
		Links: resourceLinks(r, "flavors", f.FlavorID),
	}
	if f.SwapMB == 0 && !v.AtLeast(75) {
		out.Swap = ""
	}
	if v.AtLeast(55) {
		out.Description = descriptionJSON(f.Description)
	}
	if withSpecs && v.AtLeast(61) {
		specs := f.ExtraSpecs
		if specs == nil {
			specs = map[string]string{}
		}
		out.ExtraSpecs = specs
	}
	return out
}

type flavorAccessEntry struct {
	FlavorID string `json:"flavor_id"`
	TenantID string `json:"tenant_id"`
}

func toFlavorAccess(flavorID string, projects []string) map[string]any {
	list := make([]flavorAccessEntry, 0, len(projects))
	for _, p := range projects {
		list = append(list, flavorAccessEntry{FlavorID: flavorID, TenantID: p})
	}
	return map[string]any{"flavor_access": list}
}

// ---- key pairs

// novaTime is how Nova's JSON shows a datetime without zone.
func novaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

// toKeyPair shows a key pair with the fields the call returns: fields
// lists them in order; "type" appears from 2.2.
func toKeyPair(r *http.Request, k *KeyPair, fields ...string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		switch f {
		case "name":
			out["name"] = k.Name
		case "public_key":
			out["public_key"] = k.PublicKey
		case "fingerprint":
			out["fingerprint"] = k.Fingerprint
		case "user_id":
			out["user_id"] = k.UserID
		case "private_key":
			out["private_key"] = k.PrivateKey
		case "meta":
			out["created_at"] = novaTime(k.CreatedAt)
			out["deleted"] = false
			out["deleted_at"] = nil
			out["updated_at"] = nil
			out["id"] = k.ID
		}
	}
	if mv(r).AtLeast(2) {
		out["type"] = k.Type
	}
	return out
}

// ---- quotas and limits

// hiddenQuotas are the resources a microversion no longer shows in
// os-quota-sets (2.36 drops nova-network's, 2.57 personality files').
func hiddenQuotas(v Version) map[string]bool {
	hide := map[string]bool{}
	if v.AtLeast(36) {
		for _, r := range []string{"fixed_ips", "floating_ips", "security_group_rules", "security_groups"} {
			hide[r] = true
		}
	}
	if v.AtLeast(57) {
		for _, r := range []string{"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"} {
			hide[r] = true
		}
	}
	return hide
}

// hiddenQuotaClasses is the same for os-quota-class-sets, whose cut is at
// 2.50, where it also starts showing the server group quotas.
func hiddenQuotaClasses(v Version) map[string]bool {
	hide := map[string]bool{}
	if v.AtLeast(50) {
		for _, r := range []string{"fixed_ips", "floating_ips", "security_group_rules", "security_groups"} {
			hide[r] = true
		}
	} else {
		hide["server_groups"], hide["server_group_members"] = true, true
	}
	if v.AtLeast(57) {
		for _, r := range []string{"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"} {
			hide[r] = true
		}
	}
	return hide
}

func quotaSetBody(id string, values map[string]int64, hide map[string]bool) map[string]any {
	out := map[string]any{}
	if id != "" {
		out["id"] = id
	}
	for _, r := range quotaResources {
		if v, ok := values[r]; ok && !hide[r] {
			out[r] = v
		}
	}
	return out
}

type quotaDetailItem struct {
	InUse    int64 `json:"in_use"`
	Limit    int64 `json:"limit"`
	Reserved int64 `json:"reserved"`
}

// limitNames are /limits' names of each quota resource.
var limitNames = map[string][]string{
	"ram": {"maxTotalRAMSize"}, "instances": {"maxTotalInstances"}, "cores": {"maxTotalCores"},
	"key_pairs": {"maxTotalKeypairs"}, "floating_ips": {"maxTotalFloatingIps"},
	"metadata_items": {"maxServerMeta", "maxImageMeta"}, "injected_files": {"maxPersonality"},
	"injected_file_content_bytes": {"maxPersonalitySize"}, "security_groups": {"maxSecurityGroups"},
	"security_group_rules": {"maxSecurityGroupRules"}, "server_groups": {"maxServerGroups"},
	"server_group_members": {"maxServerGroupMembers"},
}

// usedNames are /limits' names of what is in use.
var usedNames = map[string]string{
	"totalRAMUsed": "ram", "totalCoresUsed": "cores", "totalInstancesUsed": "instances",
	"totalFloatingIpsUsed": "floating_ips", "totalSecurityGroupsUsed": "security_groups",
	"totalServerGroupsUsed": "server_groups",
}

func limitsBody(v Version, q map[string]QuotaLimit) map[string]any {
	hide := map[string]bool{}
	if v.AtLeast(36) {
		hide["floating_ips"], hide["security_groups"], hide["security_group_rules"] = true, true, true
	}
	if v.AtLeast(57) {
		hide["injected_files"], hide["injected_file_content_bytes"] = true, true
	}
	abs := map[string]any{}
	for res, names := range limitNames {
		ql, ok := q[res]
		if !ok || hide[res] {
			continue
		}
		for _, n := range names {
			if n == "maxImageMeta" && v.AtLeast(39) {
				continue
			}
			abs[n] = ql.Limit
		}
	}
	for name, res := range usedNames {
		if ql, ok := q[res]; ok && !hide[res] {
			abs[name] = ql.InUse
		}
	}
	return map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}}
}

// ---- availability zones

type zoneState struct {
	Available bool `json:"available"`
}

type zoneHostWire struct {
	Available bool    `json:"available"`
	Active    bool    `json:"active"`
	UpdatedAt *string `json:"updated_at"`
}

type zoneWire struct {
	ZoneName  string                             `json:"zoneName"`
	ZoneState zoneState                          `json:"zoneState"`
	Hosts     map[string]map[string]zoneHostWire `json:"hosts"`
}

func toZones(zones []Zone) map[string]any {
	out := make([]zoneWire, 0, len(zones))
	for _, z := range zones {
		w := zoneWire{ZoneName: z.Name, ZoneState: zoneState{z.Available}}
		if z.Hosts != nil {
			w.Hosts = map[string]map[string]zoneHostWire{}
			hosts := make([]string, 0, len(z.Hosts))
			for h := range z.Hosts {
				hosts = append(hosts, h)
			}
			sort.Strings(hosts)
			for _, h := range hosts {
				w.Hosts[h] = map[string]zoneHostWire{}
				for bin, st := range z.Hosts[h] {
					hw := zoneHostWire{Available: st.Available, Active: st.Active}
					if !st.Updated.IsZero() {
						s := novaTime(st.Updated)
						hw.UpdatedAt = &s
					}
					w.Hosts[h][bin] = hw
				}
			}
		}
		out = append(out, w)
	}
	return map[string]any{"availabilityZoneInfo": out}
}
