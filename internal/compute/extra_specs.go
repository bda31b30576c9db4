package compute

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// extraSpecRule checks the value of the extra specs whose names match.
// Nova (from 2.86) validates a long list of known keys; this is the
// subset of those the QEMU driver and the scheduler care about, plus the
// resources/trait keys of placement. Keys not listed, in any namespace,
// are accepted as they are, where Nova would refuse an unknown key in a
// namespace it knows (say hw:no_such_thing).
type extraSpecRule struct {
	name    *regexp.Regexp
	kind    string // "int", "bool" or "str"
	enum    []string
	pattern *regexp.Regexp
	min     *int64
	max     *int64
}

func intRule(name string, bounds ...int64) extraSpecRule {
	r := extraSpecRule{name: regexp.MustCompile(`^(?:` + name + `)$`), kind: "int"}
	if len(bounds) > 0 {
		r.min = &bounds[0]
	}
	if len(bounds) > 1 {
		r.max = &bounds[1]
	}
	return r
}

func boolRule(name string) extraSpecRule {
	return extraSpecRule{name: regexp.MustCompile(`^(?:` + name + `)$`), kind: "bool"}
}

func enumRule(name string, values ...string) extraSpecRule {
	return extraSpecRule{name: regexp.MustCompile(`^(?:` + name + `)$`), kind: "str", enum: values}
}

func patternRule(name, pattern string) extraSpecRule {
	return extraSpecRule{name: regexp.MustCompile(`^(?:` + name + `)$`), kind: "str",
		pattern: regexp.MustCompile(`^(?:` + pattern + `)$`)}
}

const (
	cpuMask   = `\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*`
	specGroup = `([a-zA-Z0-9_-]{1,64})?`
)

var extraSpecRules = []extraSpecRule{
	boolRule(`hw:cpu_realtime`),
	patternRule(`hw:cpu_realtime_mask`, `(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*`),
	boolRule(`hw:hide_hypervisor_id`),
	enumRule(`hw:cpu_policy`, "dedicated", "shared", "mixed"),
	enumRule(`hw:cpu_thread_policy`, "prefer", "isolate", "require"),
	enumRule(`hw:emulator_threads_policy`, "isolate", "share"),
	patternRule(`hw:cpu_dedicated_mask`, cpuMask),
	patternRule(`hw:mem_page_size`, `(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)`),
	boolRule(`hw:locked_memory`),
	intRule(`hw:numa_nodes`, 1),
	patternRule(`hw:numa_cpus\.\d+`, cpuMask),
	intRule(`hw:numa_mem\.\d+`, 1),
	enumRule(`hw:pci_numa_affinity_policy`, "required", "preferred", "legacy", "socket"),
	intRule(`hw:cpu_sockets`, 1), intRule(`hw:cpu_cores`, 1), intRule(`hw:cpu_threads`, 1),
	intRule(`hw:cpu_max_sockets`, 1), intRule(`hw:cpu_max_cores`, 1), intRule(`hw:cpu_max_threads`, 1),
	boolRule(`hw:boot_menu`), boolRule(`hw:vif_multiqueue_enabled`), boolRule(`hw:mem_encryption`),
	boolRule(`hw:pmu`), intRule(`hw:serial_port_count`, 0),
	enumRule(`hw:tpm_model`, "tpm-tis", "tpm-crb"),
	enumRule(`hw:tpm_version`, "1.2", "2.0"),
	enumRule(`hw:watchdog_action`, "none", "pause", "poweroff", "reset", "disabled"),
	boolRule(`hw:virtio_packed_ring`),
	intRule(`hw:redirected_usb_ports`, 0, 15),
	boolRule(`hw_rng:allowed`), intRule(`hw_rng:rate_bytes`, 0), intRule(`hw_rng:rate_period`, 0),
	intRule(`hw_video:ram_max_mb`, 0),
	intRule(`quota:cpu_shares`, 0), intRule(`quota:cpu_period`, 0), intRule(`quota:cpu_quota`),
	intRule(`quota:disk_(read|write|total)_(bytes|iops)_sec`, 0),
	intRule(`quota:vif_(inbound|outbound)_(average|peak|burst)`, 0),
	enumRule(`os:secure_boot`, "disabled", "required"),
	intRule(`resources` + specGroup + `:[A-Z0-9_]+`),
	enumRule(`trait`+specGroup+`:[A-Z0-9_]+`, "required", "forbidden"),
}

// validateExtraSpec checks one extra spec as Nova's validators do, with
// their messages.
func validateExtraSpec(name, value string) error {
	for _, r := range extraSpecRules {
		if !r.name.MatchString(name) {
			continue
		}
		switch r.kind {
		case "int":
			n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if err != nil {
				return fault.BadRequestf("Validation failed; '%s' is not a valid integer value.", value)
			}
			if r.max != nil && n > *r.max {
				return fault.BadRequestf("Validation failed; '%s' is greater than the max value of '%d'.", value, *r.max)
			}
			if r.min != nil && n < *r.min {
				return fault.BadRequestf("Validation failed; '%s' is less than the min value of '%d'.", value, *r.min)
			}
		case "bool":
			if _, ok := parseBoolString(value); !ok {
				return fault.BadRequestf("Validation failed; '%s' is not a valid boolean-like value.", value)
			}
		default:
			if r.pattern != nil && !r.pattern.MatchString(value) {
				return fault.BadRequestf("Validation failed; '%s' is not of the format '%s'.", value,
					strings.TrimSuffix(strings.TrimPrefix(r.pattern.String(), "^(?:"), ")$"))
			}
			if r.enum != nil && !contains(r.enum, value) {
				return fault.BadRequestf("Validation failed; '%s' is not one of: %s.", value, strings.Join(r.enum, ", "))
			}
		}
		return nil
	}
	return nil
}

// parseBoolString is oslo's bool_from_string(strict=True).
func parseBoolString(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	return false, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// extraSpecKey is the schema's pattern for extra spec names.
var extraSpecKey = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

func checkExtraSpecKey(k string) error {
	if !extraSpecKey.MatchString(k) {
		return fault.BadRequestf("Invalid input for field/attribute extra_specs. Value: %s. Additional properties are not allowed (%s was unexpected)",
			k, fmt.Sprintf("'%s'", k))
	}
	return nil
}
