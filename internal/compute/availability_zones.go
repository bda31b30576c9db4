package compute

import (
	"context"
	"sort"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
)

// ZoneService is one service as os-availability-zone shows it.
type ZoneService struct {
	Host     string
	Binary   string // "nova-compute", "nova-scheduler", "nova-conductor", ...
	Zone     string // compute services: from their aggregates, "" = the default zone
	Disabled bool
	Up       bool
	Updated  time.Time // zero = never reported
}

// ZoneSource lists the compute services. Without one (SetZoneSource),
// they come from the compute database: os-services' records and the
// zones of their hosts' aggregates.
type ZoneSource interface {
	ZoneServices(ctx context.Context) ([]ZoneService, error)
}

// Zone is an availability zone and, for the detailed list, its hosts.
type Zone struct {
	Name      string
	Available bool
	// Hosts maps host -> binary -> state; nil for the plain list and for
	// zones not available.
	Hosts map[string]map[string]ZoneHostService
}

// ZoneHostService is a service's state in a zone's host list.
type ZoneHostService struct {
	Available bool // up
	Active    bool // not disabled
	Updated   time.Time
}

const computeBinary = "nova-compute"

// AvailabilityZones lists the zones as Nova does: a zone is available
// when an enabled service is in it. detail (admins) adds the hosts and
// the internal zone. Until the first service registers, the default
// zone is shown, available and empty, so that clients can pick it.
func (s *Service) AvailabilityZones(ctx context.Context, p *authn.Principal, detail bool) ([]Zone, error) {
	rule := policyZoneList
	if detail {
		rule = policyZoneDetail
	}
	if err := s.authorize(p, rule, map[string]any{}); err != nil {
		return nil, err
	}
	services, err := s.zoneServices(ctx)
	if err != nil {
		return nil, err
	}
	if len(services) == 0 {
		z := Zone{Name: s.cfg.DefaultAvailabilityZone, Available: true}
		if detail {
			z.Hosts = map[string]map[string]ZoneHostService{}
		}
		return []Zone{z}, nil
	}
	zoneOf := func(sv ZoneService) string {
		switch {
		case sv.Binary != computeBinary:
			return s.cfg.InternalAvailabilityZone
		case sv.Zone == "":
			return s.cfg.DefaultAvailabilityZone
		}
		return sv.Zone
	}
	available := map[string]bool{}
	for _, sv := range services {
		if !sv.Disabled {
			available[zoneOf(sv)] = true
		}
	}
	notAvailable := map[string]bool{}
	for _, sv := range services {
		if z := zoneOf(sv); sv.Disabled && !available[z] {
			notAvailable[z] = true
		}
	}
	var out []Zone
	for _, name := range sortedKeys(available) {
		if !detail && name == s.cfg.InternalAvailabilityZone {
			continue
		}
		z := Zone{Name: name, Available: true}
		if detail {
			z.Hosts = map[string]map[string]ZoneHostService{}
			for _, sv := range services {
				if sv.Disabled || zoneOf(sv) != name || sv.Binary == "nova-osapi_compute" || sv.Binary == "nova-metadata" {
					continue
				}
				if z.Hosts[sv.Host] == nil {
					z.Hosts[sv.Host] = map[string]ZoneHostService{}
				}
				z.Hosts[sv.Host][sv.Binary] = ZoneHostService{Available: sv.Up, Active: !sv.Disabled, Updated: sv.Updated}
			}
		}
		out = append(out, z)
	}
	for _, name := range sortedKeys(notAvailable) {
		if !detail && name == s.cfg.InternalAvailabilityZone {
			continue
		}
		out = append(out, Zone{Name: name})
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// zoneServices are the services os-availability-zone shows: the
// ZoneSource's when one is set, else the compute database's.
func (s *Service) zoneServices(ctx context.Context) ([]ZoneService, error) {
	if s.zones != nil {
		return s.zones.ZoneServices(ctx)
	}
	list, err := s.instances.ListServices(ctx, "", "")
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	hostZones, err := s.hostZones(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ZoneService, 0, len(list))
	for i := range list {
		sv := &list[i]
		zs := ZoneService{Host: sv.Host, Binary: sv.Binary, Disabled: sv.Disabled, Up: s.serviceAlive(sv),
			Updated: serviceUpdated(sv)}
		if sv.Binary == computeBinary {
			zs.Zone = hostZones[sv.Host]
		}
		out = append(out, zs)
	}
	return out, nil
}
