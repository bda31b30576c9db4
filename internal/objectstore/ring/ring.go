// Package ring maps accounts, containers and objects onto storage devices,
// as Swift's ring does: the md5 of a name, salted by the cluster's hash
// path prefix and suffix, picks one of 2^P partitions, and the ring lists
// the devices that hold each partition's replicas.
//
// One ring file serves accounts, containers and objects alike. Operators
// edit a Builder (the .builder file), rebalance it and write the ring file
// that every proxy and storage node loads; a Source reloads it when it
// changes.
package ring

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// noDevice marks a replica slot with no device (fewer devices than
// replicas, or a builder never rebalanced).
const noDevice = 0xFFFF

// maxDeviceID is the largest device id: assignments are stored as uint16.
const maxDeviceID = noDevice - 1

// Device is a storage device: a directory on a storage node.
type Device struct {
	ID     int
	Region int
	Zone   int
	IP     string
	Port   int
	Name   string // device directory name on the node, e.g. "d1"
	Weight float64
	Meta   string
}

// Addr is the storage node's address, ip:port.
func (d Device) Addr() string { return net.JoinHostPort(d.IP, strconv.Itoa(d.Port)) }

// Ring is an immutable assignment of partitions to devices. Its methods
// are safe for concurrent use.
type Ring struct {
	version   int64
	partPower uint
	replicas  int
	prefix    string
	suffix    string

	devs   []Device // every device of the file, by ID
	active []Device // weight > 0 or holding partitions
	// prim holds, per partition, the indices in devs of its primaries,
	// replicas entries each, absent slots (noDevice) moved to the end.
	prim []uint16
	// tier indices of each device in devs: region, (region, zone) and
	// (region, zone, ip), dense from 0, for handoff ordering.
	region, zone, ip    []int32
	nRegion, nZone, nIP int
	isActive            []bool
}

// Version is the builder version the ring was written from; every
// rebalance that changes the ring raises it.
func (r *Ring) Version() int64 { return r.version }

// Replicas is the number of replicas of each partition.
func (r *Ring) Replicas() int { return r.replicas }

// PartPower is P: the ring has 2^P partitions.
func (r *Ring) PartPower() uint { return r.partPower }

// Partitions is the number of partitions, 2^P.
func (r *Ring) Partitions() int { return 1 << r.partPower }

// Hash is the hex md5 of prefix/account[/container[/object]]suffix, the
// name under which storage nodes file the item. An empty container ends
// the path, so the object is then ignored.
func (r *Ring) Hash(account, container, object string) string {
	sum := r.sum(account, container, object)
	return hex.EncodeToString(sum[:])
}

// Partition is the partition of an account, container or object.
func (r *Ring) Partition(account, container, object string) int {
	sum := r.sum(account, container, object)
	return r.partOf(sum[:])
}

// PartitionOfHash is the partition of a hash made by Hash.
func (r *Ring) PartitionOfHash(hash string) (int, error) {
	if len(hash) != 2*md5.Size {
		return 0, fmt.Errorf("ring: hash %q is not %d hex digits", hash, 2*md5.Size)
	}
	var b [4]byte
	if _, err := hex.Decode(b[:], []byte(hash[:8])); err != nil {
		return 0, fmt.Errorf("ring: hash %q is not hex", hash)
	}
	if _, err := hex.DecodeString(hash[8:]); err != nil {
		return 0, fmt.Errorf("ring: hash %q is not hex", hash)
	}
	return r.partOf(b[:]), nil
}

func (r *Ring) sum(account, container, object string) [md5.Size]byte {
	n := len(r.prefix) + 1 + len(account) + 2 + len(container) + len(object) + len(r.suffix)
	buf := make([]byte, 0, n)
	buf = append(buf, r.prefix...)
	buf = append(buf, '/')
	buf = append(buf, account...)
	if container != "" {
		buf = append(buf, '/')
		buf = append(buf, container...)
		if object != "" {
			buf = append(buf, '/')
			buf = append(buf, object...)
		}
	}
	buf = append(buf, r.suffix...)
	return md5.Sum(buf)
}

func (r *Ring) partOf(sum []byte) int {
	return int(binary.BigEndian.Uint32(sum) >> (32 - r.partPower))
}

// Primaries are the devices holding the partition's replicas, in replica
// order: Replicas() of them, fewer only when the ring has fewer devices.
// The slice is the caller's own. An out-of-range partition has none.
func (r *Ring) Primaries(part int) []Device {
	if part < 0 || part >= r.Partitions() {
		return nil
	}
	slots := r.prim[part*r.replicas : (part+1)*r.replicas]
	n := 0
	for n < len(slots) && slots[n] != noDevice {
		n++
	}
	out := make([]Device, n)
	for i := range n {
		out[i] = r.devs[slots[i]]
	}
	return out
}

// IsPrimary reports whether the device with dev's ID holds a replica of
// the partition.
func (r *Ring) IsPrimary(part int, dev Device) bool {
	if part < 0 || part >= r.Partitions() {
		return false
	}
	for _, i := range r.prim[part*r.replicas : (part+1)*r.replicas] {
		if i != noDevice && r.devs[i].ID == dev.ID {
			return true
		}
	}
	return false
}

// Devices are the devices with weight > 0 or holding partitions, by ID.
// The slice is the caller's own.
func (r *Ring) Devices() []Device { return slices.Clone(r.active) }

// Handoffs are every other device of Devices(), the places to write a
// partition when primaries fail, in an order fixed for the partition
// (every node computes the same): first devices in regions none of the
// primaries or earlier handoffs use, then in unused zones, then on unused
// hosts, then the rest. The slice is the caller's own.
func (r *Ring) Handoffs(part int) []Device {
	if part < 0 || part >= r.Partitions() {
		return nil
	}
	slots := r.prim[part*r.replicas : (part+1)*r.replicas]
	type cand struct {
		key uint64
		dev int32
	}
	cands := make([]cand, 0, len(r.devs))
	for i := range r.devs {
		if !r.isActive[i] || slices.Contains(slots, uint16(i)) {
			continue
		}
		cands = append(cands, cand{mix(uint64(part)<<32 | uint64(uint32(r.devs[i].ID))), int32(i)})
	}
	out := make([]Device, 0, len(cands))
	if len(cands) == 0 {
		return out
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
		return int(a.dev - b.dev)
	})
	// One allocation for the used-tier sets.
	used := make([]bool, r.nRegion+r.nZone+r.nIP)
	usedRegion, usedZone, usedIP := used[:r.nRegion], used[r.nRegion:r.nRegion+r.nZone], used[r.nRegion+r.nZone:]
	mark := func(i int32) {
		usedRegion[r.region[i]], usedZone[r.zone[i]], usedIP[r.ip[i]] = true, true, true
	}
	for _, s := range slots {
		if s != noDevice {
			mark(int32(s))
		}
	}
	tiers := [...][]int32{r.region, r.zone, r.ip}
	usedSets := [...][]bool{usedRegion, usedZone, usedIP}
	for t := range tiers {
		for k := range cands {
			c := &cands[k]
			if c.dev < 0 || usedSets[t][tiers[t][c.dev]] {
				continue
			}
			out = append(out, r.devs[c.dev])
			mark(c.dev)
			c.dev = -1
		}
	}
	for _, c := range cands {
		if c.dev >= 0 {
			out = append(out, r.devs[c.dev])
		}
	}
	return out
}

// mix is splitmix64's finalizer: a fixed, well-spread order of devices per
// partition.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// newRing checks a decoded ring and indexes it for lookups. assign holds
// device IDs, [replica][partition].
func newRing(version int64, partPower uint, replicas int, prefix, suffix string, devs []Device, assign [][]uint16) (*Ring, error) {
	if err := checkShape(partPower, replicas); err != nil {
		return nil, err
	}
	devs = slices.Clone(devs)
	slices.SortFunc(devs, func(a, b Device) int { return a.ID - b.ID })
	index := make(map[int]uint16, len(devs))
	for i, d := range devs {
		if err := checkDevice(d); err != nil {
			return nil, err
		}
		if i > 0 && devs[i-1].ID == d.ID {
			return nil, fmt.Errorf("ring: device id %d appears twice", d.ID)
		}
		index[d.ID] = uint16(i)
	}
	if len(assign) != replicas {
		return nil, fmt.Errorf("ring: %d replica rows for %d replicas", len(assign), replicas)
	}
	parts := 1 << partPower
	r := &Ring{version: version, partPower: partPower, replicas: replicas, prefix: prefix, suffix: suffix,
		devs: devs, prim: make([]uint16, parts*replicas), isActive: make([]bool, len(devs))}
	for rep, row := range assign {
		if len(row) != parts {
			return nil, fmt.Errorf("ring: replica %d has %d partitions, want %d", rep, len(row), parts)
		}
	}
	for p := range parts {
		slots := r.prim[p*replicas : (p+1)*replicas]
		n := 0
		for rep := range replicas {
			id := assign[rep][p]
			if id == noDevice {
				continue
			}
			i, ok := index[int(id)]
			if !ok {
				return nil, fmt.Errorf("ring: partition %d replica %d is on device %d, which the ring does not list", p, rep, id)
			}
			if slices.Contains(slots[:n], i) {
				return nil, fmt.Errorf("ring: partition %d has device %d twice", p, id)
			}
			slots[n] = i
			r.isActive[i] = true
			n++
		}
		for ; n < replicas; n++ {
			slots[n] = noDevice
		}
	}
	regions, zones, ips := map[int]int32{}, map[[2]int]int32{}, map[string]int32{}
	r.region, r.zone, r.ip = make([]int32, len(devs)), make([]int32, len(devs)), make([]int32, len(devs))
	for i, d := range devs {
		if d.Weight > 0 {
			r.isActive[i] = true
		}
		if r.isActive[i] {
			r.active = append(r.active, d)
		}
		r.region[i] = intern(regions, d.Region)
		r.zone[i] = intern(zones, [2]int{d.Region, d.Zone})
		r.ip[i] = intern(ips, strconv.Itoa(d.Region)+"/"+strconv.Itoa(d.Zone)+"/"+d.IP)
	}
	r.nRegion, r.nZone, r.nIP = len(regions), len(zones), len(ips)
	return r, nil
}

func intern[K comparable](m map[K]int32, k K) int32 {
	if v, ok := m[k]; ok {
		return v
	}
	v := int32(len(m))
	m[k] = v
	return v
}

func checkShape(partPower uint, replicas int) error {
	if partPower < 1 || partPower > 24 {
		return fmt.Errorf("ring: part power %d is not between 1 and 24", partPower)
	}
	if replicas < 1 || replicas > 10 {
		return fmt.Errorf("ring: replica count %d is not between 1 and 10", replicas)
	}
	return nil
}

// checkDevice checks the fields of a device, not its place among others.
func checkDevice(d Device) error {
	switch {
	case d.ID < 0 || d.ID > maxDeviceID:
		return fmt.Errorf("ring: device id %d is not between 0 and %d", d.ID, maxDeviceID)
	case d.Name == "" || d.Name == "." || d.Name == ".." || strings.ContainsAny(d.Name, "/\\ \t\n"):
		return fmt.Errorf("ring: device %d: bad device name %q", d.ID, d.Name)
	case d.IP == "" || strings.ContainsAny(d.IP, "/ \t\n"):
		return fmt.Errorf("ring: device %d: bad ip %q", d.ID, d.IP)
	case d.Port < 1 || d.Port > 65535:
		return fmt.Errorf("ring: device %d: port %d is not between 1 and 65535", d.ID, d.Port)
	case !(d.Weight >= 0) || d.Weight > 1e12: // also refuses NaN
		return fmt.Errorf("ring: device %d: bad weight %v", d.ID, d.Weight)
	case d.Region < 0 || d.Zone < 0:
		return fmt.Errorf("ring: device %d: region and zone must not be negative", d.ID)
	}
	return nil
}
