package ring

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Builder is the operator's editable state of a ring, what
// swift-ring-builder keeps in a .builder file: the devices, the current
// assignment, when each partition last moved, and the hash path salts.
// Its methods are not safe for concurrent use.
type Builder struct {
	partPower    uint
	replicas     int
	minPartHours time.Duration
	prefix       string
	suffix       string
	version      int64
	nextID       int
	dirty        bool // devices changed since the last rebalance

	devs      []builderDevice // by ID
	assign    [][]uint16      // [replica][partition] device id or noDevice
	lastMoved []int64         // per partition: unix seconds of its last move, 0 = never
}

type builderDevice struct {
	Device
	removing bool // drained at the next rebalance, then dropped
}

// DeviceUsage is a builder device with what it holds.
type DeviceUsage struct {
	Device
	Parts    int     // partition-replicas assigned to it
	Balance  float64 // % off its weight's share; 999.99 for a zero weight holding partitions
	Removing bool    // marked for removal, drained by the next rebalance
}

// NewBuilder starts an empty builder with new random hash path salts.
// minPartHours is how long a moved partition stays put before another of
// its replicas may move.
func NewBuilder(partPower uint, replicas int, minPartHours time.Duration) (*Builder, error) {
	if err := checkShape(partPower, replicas); err != nil {
		return nil, err
	}
	if minPartHours < 0 {
		return nil, fmt.Errorf("ring: min part hours %v is negative", minPartHours)
	}
	b := &Builder{partPower: partPower, replicas: replicas, minPartHours: minPartHours,
		prefix: randomHex(), suffix: randomHex()}
	parts := 1 << partPower
	b.assign = make([][]uint16, replicas)
	for r := range b.assign {
		b.assign[r] = slices.Repeat([]uint16{noDevice}, parts)
	}
	b.lastMoved = make([]int64, parts)
	return b, nil
}

func randomHex() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

// PartPower is P: the ring has 2^P partitions.
func (b *Builder) PartPower() uint { return b.partPower }

// Replicas is the number of replicas of each partition.
func (b *Builder) Replicas() int { return b.replicas }

// MinPartHours is how long a partition stays put after one of its
// replicas moved.
func (b *Builder) MinPartHours() time.Duration { return b.minPartHours }

// Version is raised by every rebalance that changes the ring; the ring
// file carries it so nodes never go back to an older ring.
func (b *Builder) Version() int64 { return b.version }

// Pending reports device changes (added, removed, reweighted) that no
// rebalance has taken in yet.
func (b *Builder) Pending() bool { return b.dirty }

// Add adds a device and returns the ID the builder gave it (d.ID is
// ignored). It holds nothing until the next rebalance.
func (b *Builder) Add(d Device) (int, error) {
	if b.nextID > maxDeviceID {
		return 0, fmt.Errorf("ring: no device ids left (at most %d)", maxDeviceID+1)
	}
	d.ID = b.nextID
	if err := checkDevice(d); err != nil {
		return 0, err
	}
	for _, o := range b.devs {
		if o.IP == d.IP && o.Port == d.Port && o.Name == d.Name {
			if o.removing {
				return 0, fmt.Errorf("ring: device %d (%s/%s) is being removed; rebalance before adding it again", o.ID, o.Addr(), o.Name)
			}
			return 0, fmt.Errorf("ring: device %s/%s already exists as id %d", d.Addr(), d.Name, o.ID)
		}
	}
	b.devs = append(b.devs, builderDevice{Device: d})
	b.nextID++
	b.dirty = true
	return d.ID, nil
}

// Remove marks a device for removal: the next rebalance moves all its
// partitions away, whatever min part hours says, and drops it.
func (b *Builder) Remove(id int) error {
	d, err := b.device(id)
	if err != nil {
		return err
	}
	if d.removing {
		return fmt.Errorf("ring: device %d is already being removed", id)
	}
	d.removing, d.Weight = true, 0
	b.dirty = true
	return nil
}

// SetWeight changes a device's weight; the next rebalance moves
// partitions to match.
func (b *Builder) SetWeight(id int, w float64) error {
	d, err := b.device(id)
	if err != nil {
		return err
	}
	if d.removing {
		return fmt.Errorf("ring: device %d is being removed", id)
	}
	nd := d.Device
	nd.Weight = w
	if err := checkDevice(nd); err != nil {
		return err
	}
	d.Weight = w
	b.dirty = true
	return nil
}

func (b *Builder) device(id int) (*builderDevice, error) {
	i, ok := slices.BinarySearchFunc(b.devs, id, func(d builderDevice, id int) int { return d.ID - id })
	if !ok {
		return nil, fmt.Errorf("ring: no device with id %d", id)
	}
	return &b.devs[i], nil
}

// Devices are the builder's devices by ID, including those marked for
// removal (with weight 0) until a rebalance drops them.
func (b *Builder) Devices() []Device {
	out := make([]Device, len(b.devs))
	for i, d := range b.devs {
		out[i] = d.Device
	}
	return out
}

// Usage is every device with the partition-replicas it holds and its
// balance.
func (b *Builder) Usage() []DeviceUsage {
	counts := b.counts()
	want := b.ideal()
	out := make([]DeviceUsage, len(b.devs))
	for i, d := range b.devs {
		out[i] = DeviceUsage{Device: d.Device, Parts: counts[i], Removing: d.removing, Balance: devBalance(counts[i], want[i])}
	}
	return out
}

// Balance is the largest deviation, in percent, of a device's
// partition-replicas from its weight's share.
func (b *Builder) Balance() float64 {
	counts, want := b.counts(), b.ideal()
	var bal float64
	for i := range b.devs {
		bal = max(bal, devBalance(counts[i], want[i]))
	}
	return bal
}

// Locked counts the partitions that moved less than min part hours before
// now, and says when the last of them may move again.
func (b *Builder) Locked(now time.Time) (int, time.Time) {
	var n int
	var until int64
	for _, t := range b.lastMoved {
		if b.locked(t, now.Unix()) {
			n++
			until = max(until, t)
		}
	}
	if n == 0 {
		return 0, time.Time{}
	}
	return n, time.Unix(until, 0).Add(b.minPartHours)
}

func (b *Builder) locked(moved, now int64) bool {
	return moved != 0 && b.minPartHours > 0 && time.Duration(now-moved)*time.Second < b.minPartHours
}

func (b *Builder) counts() []int {
	index := b.index()
	counts := make([]int, len(b.devs))
	for _, row := range b.assign {
		for _, id := range row {
			if i, ok := index[id]; ok {
				counts[i]++
			}
		}
	}
	return counts
}

func (b *Builder) index() map[uint16]int {
	index := make(map[uint16]int, len(b.devs))
	for i, d := range b.devs {
		index[uint16(d.ID)] = i
	}
	return index
}

// ideal is each device's share of partition-replicas by weight alone.
func (b *Builder) ideal() []float64 {
	var total float64
	n := 0
	for _, d := range b.devs {
		if !d.removing && d.Weight > 0 {
			total += d.Weight
			n++
		}
	}
	out := make([]float64, len(b.devs))
	if total == 0 {
		return out
	}
	slots := float64(int(1)<<b.partPower) * float64(min(b.replicas, n))
	for i, d := range b.devs {
		if !d.removing {
			out[i] = d.Weight / total * slots
		}
	}
	return out
}

func devBalance(parts int, ideal float64) float64 {
	if ideal == 0 {
		if parts > 0 {
			return 999.99
		}
		return 0
	}
	return min(999.99, math.Abs(float64(parts)/ideal-1)*100)
}

// Validate checks the assignment: every partition has a replica on as
// many distinct devices as it should (Replicas(), or every device when
// there are fewer), and no device marked for removal holds any.
func (b *Builder) Validate() error {
	if _, err := b.Ring(); err != nil {
		return err
	}
	index := b.index()
	want := 0
	for _, d := range b.devs {
		if !d.removing && d.Weight > 0 {
			want++
		}
	}
	want = min(want, b.replicas)
	var errs []error
	short, first := 0, -1
	removing := map[int]int{}
	for p := range 1 << b.partPower {
		n := 0
		for r := range b.replicas {
			id := b.assign[r][p]
			if id == noDevice {
				continue
			}
			n++
			if b.devs[index[id]].removing {
				removing[int(id)]++
			}
		}
		if n < want {
			short++
			if first < 0 {
				first = p
			}
		}
	}
	if want == 0 {
		errs = append(errs, errors.New("ring: no devices with weight > 0"))
	}
	if short > 0 {
		errs = append(errs, fmt.Errorf("ring: %d partitions have fewer than %d replicas (the first is %d): rebalance", short, want, first))
	}
	for _, d := range b.devs {
		if n := removing[d.ID]; n > 0 {
			errs = append(errs, fmt.Errorf("ring: device %d is marked for removal but holds %d partition-replicas: rebalance", d.ID, n))
		}
	}
	return errors.Join(errs...)
}

// Ring is the ring of the current assignment, with the builder's version.
func (b *Builder) Ring() (*Ring, error) {
	return newRing(b.version, b.partPower, b.replicas, b.prefix, b.suffix, b.Devices(), b.assign)
}

// WriteRing validates the builder and atomically writes its ring file.
func (b *Builder) WriteRing(path string) error {
	if err := b.Validate(); err != nil {
		return err
	}
	f := ringFile{Version: b.version, PartPower: b.partPower, Replicas: b.replicas,
		HashPrefix: b.prefix, HashSuffix: b.suffix, Assignment: make([]ids, b.replicas)}
	for _, d := range b.devs {
		f.Devices = append(f.Devices, toJSON(d.Device))
	}
	for r, row := range b.assign {
		f.Assignment[r] = row
	}
	data, err := encode(ringMagic, f)
	if err != nil {
		return err
	}
	if err := writeAtomic(path, data); err != nil {
		return fmt.Errorf("write ring %s: %w", path, err)
	}
	return nil
}

// builderFile is the JSON body of a builder file.
type builderFile struct {
	Version      int64        `json:"version"`
	PartPower    uint         `json:"part_power"`
	Replicas     int          `json:"replicas"`
	MinPartHours string       `json:"min_part_hours"` // a Go duration, "1h0m0s"
	HashPrefix   string       `json:"hash_prefix"`
	HashSuffix   string       `json:"hash_suffix"`
	NextID       int          `json:"next_id"`
	Dirty        bool         `json:"dirty,omitempty"`
	Devices      []deviceJSON `json:"devices"`
	Assignment   []ids        `json:"assignment"`
	LastMoved    times        `json:"last_moved"`
}

// times is a row of unix times, encoded compactly.
type times []int64

func (v times) MarshalJSON() ([]byte, error) {
	b := make([]byte, 8*len(v))
	for i, t := range v {
		binary.BigEndian.PutUint64(b[8*i:], uint64(t))
	}
	return json.Marshal(b)
}

func (v *times) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	if len(b)%8 != 0 {
		return errors.New("bad length of a time row")
	}
	*v = make(times, len(b)/8)
	for i := range *v {
		(*v)[i] = int64(binary.BigEndian.Uint64(b[8*i:]))
	}
	return nil
}

// Save atomically writes the builder file.
func (b *Builder) Save(path string) error {
	f := builderFile{Version: b.version, PartPower: b.partPower, Replicas: b.replicas, MinPartHours: b.minPartHours.String(),
		HashPrefix: b.prefix, HashSuffix: b.suffix, NextID: b.nextID, Dirty: b.dirty,
		Devices: []deviceJSON{}, Assignment: make([]ids, b.replicas), LastMoved: b.lastMoved}
	for _, d := range b.devs {
		j := toJSON(d.Device)
		j.Removing = d.removing
		f.Devices = append(f.Devices, j)
	}
	for r, row := range b.assign {
		f.Assignment[r] = row
	}
	data, err := encode(builderMagic, f)
	if err != nil {
		return err
	}
	if err := writeAtomic(path, data); err != nil {
		return fmt.Errorf("save ring builder %s: %w", path, err)
	}
	return nil
}

// LoadBuilder reads and checks a builder file.
func LoadBuilder(path string) (*Builder, error) {
	body, err := readFile(path, builderMagic)
	if err != nil {
		return nil, err
	}
	var f builderFile
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("ring builder %s: %w", path, err)
	}
	b, err := f.builder()
	if err != nil {
		return nil, fmt.Errorf("ring builder %s: %w", path, err)
	}
	return b, nil
}

func (f *builderFile) builder() (*Builder, error) {
	mph, err := time.ParseDuration(f.MinPartHours)
	if err != nil || mph < 0 {
		return nil, fmt.Errorf("bad min_part_hours %q", f.MinPartHours)
	}
	b := &Builder{version: f.Version, partPower: f.PartPower, replicas: f.Replicas, minPartHours: mph,
		prefix: f.HashPrefix, suffix: f.HashSuffix, nextID: f.NextID, dirty: f.Dirty, lastMoved: f.LastMoved}
	for _, d := range f.Devices {
		if d.ID >= f.NextID {
			return nil, fmt.Errorf("device id %d is not below next_id %d", d.ID, f.NextID)
		}
		b.devs = append(b.devs, builderDevice{Device: d.device(), removing: d.Removing})
	}
	slices.SortFunc(b.devs, func(a, b builderDevice) int { return a.ID - b.ID })
	for _, row := range f.Assignment {
		b.assign = append(b.assign, row)
	}
	if _, err := b.Ring(); err != nil { // checks shape, devices and assignment
		return nil, err
	}
	if len(b.lastMoved) != 1<<b.partPower {
		return nil, fmt.Errorf("last_moved has %d partitions, want %d", len(b.lastMoved), 1<<b.partPower)
	}
	return b, nil
}
