package placementclient

import "strings"

// Ratios are a compute node's allocation ratios and reserved amounts
// (nova.conf [DEFAULT] initial_*_allocation_ratio, reserved_host_*).
type Ratios struct {
	CPU, RAM, Disk float64
	// ReservedMemoryMB is kept for the host (Nova's
	// reserved_host_memory_mb, 512); it is capped at a quarter of the
	// host's memory so that a small host (a 1 GiB test VM) still offers
	// most of its memory.
	ReservedMemoryMB int64
	ReservedCPUs     int64
	ReservedDiskGB   int64
}

// DefaultRatios are Nova's defaults: CPU 4.0, RAM 1.0, disk 1.0, 512 MiB
// of memory reserved.
func DefaultRatios() Ratios {
	return Ratios{CPU: 4.0, RAM: 1.0, Disk: 1.0, ReservedMemoryMB: 512}
}

// ComputeInventories is a compute node's inventory: VCPU, MEMORY_MB and
// DISK_GB, each left out when the host has none (placement refuses a
// total of 0). max_unit is the total, as Nova's resource tracker sets it.
func ComputeInventories(vcpus, memoryMB, diskGB int64, r Ratios) map[string]Inventory {
	inv := map[string]Inventory{}
	add := func(rc string, total, reserved int64, ratio float64) {
		if total <= 0 {
			return
		}
		if ratio <= 0 {
			ratio = 1.0
		}
		reserved = max(0, min(reserved, total-1))
		inv[rc] = Inventory{Total: total, Reserved: reserved, MinUnit: 1, MaxUnit: total, StepSize: 1, AllocationRatio: ratio}
	}
	add("VCPU", vcpus, r.ReservedCPUs, r.CPU)
	add("MEMORY_MB", memoryMB, min(r.ReservedMemoryMB, memoryMB/4), r.RAM)
	add("DISK_GB", diskGB, r.ReservedDiskGB, r.Disk)
	return inv
}

// ComputeTraits are the traits Nimbus's compute nodes report: every node
// is a COMPUTE_NODE; a disabled service's node has
// COMPUTE_STATUS_DISABLED (the scheduler forbids it, as Nova's
// pre-filter does); hypervisors that run images say which formats they
// take and their architecture.
func ComputeTraits(hypervisorType string, disabled bool) []string {
	t := []string{"COMPUTE_NODE"}
	if disabled {
		t = append(t, "COMPUTE_STATUS_DISABLED")
	}
	switch strings.ToLower(hypervisorType) {
	case "qemu", "kvm", "fake":
		t = append(t, "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW", "HW_ARCH_X86_64")
	}
	return t
}
