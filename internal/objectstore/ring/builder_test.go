package ring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// counts is partition-replicas per device ID.
func counts(r *Ring) map[int]int {
	out := map[int]int{}
	for p := range r.Partitions() {
		for _, d := range r.Primaries(p) {
			out[d.ID]++
		}
	}
	return out
}

// checkDistinct fails unless every partition has want distinct devices.
func checkDistinct(t *testing.T, r *Ring, want int) {
	t.Helper()
	for p := range r.Partitions() {
		prim := r.Primaries(p)
		if len(prim) != want {
			t.Fatalf("partition %d has %d replicas, want %d", p, len(prim), want)
		}
		seen := map[int]bool{}
		for _, d := range prim {
			if seen[d.ID] {
				t.Fatalf("partition %d has device %d twice", p, d.ID)
			}
			seen[d.ID] = true
		}
	}
}

// checkShares fails unless each device holds its weight's share of
// partition-replicas within tol (a fraction).
func checkShares(t *testing.T, r *Ring, tol float64) {
	t.Helper()
	var total float64
	for _, d := range r.Devices() {
		total += d.Weight
	}
	c := counts(r)
	for _, d := range r.Devices() {
		ideal := d.Weight / total * float64(r.Partitions()*r.Replicas())
		if got := float64(c[d.ID]); math.Abs(got/ideal-1) > tol {
			t.Errorf("device %d (weight %v) holds %v partition-replicas, ideal %.1f", d.ID, d.Weight, got, ideal)
		}
	}
}

func TestThreeZonesOneReplicaEach(t *testing.T) {
	b := newBuilder(t, 10, 3, time.Hour, dev(1, 1, "d1", 100), dev(1, 2, "d1", 100), dev(1, 3, "d1", 100))
	moved, bal, err := b.Rebalance(t0)
	if err != nil {
		t.Fatal(err)
	}
	if moved != 3*1024 || bal != 0 {
		t.Errorf("first rebalance: moved %d, balance %v; want 3072, 0", moved, bal)
	}
	r := mustRing(t, b)
	for p := range r.Partitions() {
		zones := map[int]bool{}
		for _, d := range r.Primaries(p) {
			zones[d.Zone] = true
		}
		if len(zones) != 3 {
			t.Fatalf("partition %d uses zones %v", p, zones)
		}
	}
}

func TestWeightedShares(t *testing.T) {
	weights := []float64{100, 100, 100, 100, 200, 200}
	tests := []struct {
		name string
		zone func(i int) int
	}{
		{"a zone each", func(i int) int { return i + 1 }},
		{"three zones of two", func(i int) int { return i%3 + 1 }},
		{"one zone", func(int) int { return 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBuilder(t, 10, 3, time.Hour)
			for i, w := range weights {
				if _, err := b.Add(dev(1, tt.zone(i), "d"+string(rune('a'+i)), w)); err != nil {
					t.Fatal(err)
				}
			}
			rebalance(t, b, t0)
			if bal := b.Balance(); bal > 1 {
				t.Errorf("balance %.2f%%, want <= 1%%", bal)
			}
			r := mustRing(t, b)
			checkDistinct(t, r, 3)
			checkShares(t, r, 0.01)
			checkSpread(t, r)
		})
	}
}

// checkSpread fails when a partition has more replicas in a zone than
// the zone's weight calls for (rounded up).
func checkSpread(t *testing.T, r *Ring) {
	t.Helper()
	var total float64
	zoneWeight := map[int]float64{}
	for _, d := range r.Devices() {
		total += d.Weight
		zoneWeight[d.Zone] += d.Weight
	}
	for p := range r.Partitions() {
		inZone := map[int]int{}
		for _, d := range r.Primaries(p) {
			inZone[d.Zone]++
		}
		for z, n := range inZone {
			if limit := math.Ceil(zoneWeight[z] / total * float64(r.Replicas())); float64(n) > limit {
				t.Fatalf("partition %d has %d replicas in zone %d, limit %v", p, n, z, limit)
			}
		}
	}
}

func TestAddDeviceMovesItsShare(t *testing.T) {
	b := newBuilder(t, 10, 3, time.Hour, dev(1, 1, "d1", 100), dev(1, 2, "d1", 100), dev(1, 3, "d1", 100))
	rebalance(t, b, t0)
	v1 := b.Version()
	before := mustRing(t, b)
	if _, err := b.Add(dev(1, 4, "d1", 100)); err != nil {
		t.Fatal(err)
	}

	// Every partition moved at t0: nothing may move for an hour, but the
	// new device is in the ring (a new version).
	if moved := rebalance(t, b, t0.Add(10*time.Minute)); moved != 0 {
		t.Fatalf("rebalance within min part hours moved %d", moved)
	}
	if b.Version() != v1+1 {
		t.Errorf("version %d after adding a device, want %d", b.Version(), v1+1)
	}
	if n, until := b.Locked(t0.Add(10 * time.Minute)); n != 1024 || !until.Equal(t0.Add(time.Hour)) {
		t.Errorf("Locked = %d until %v, want 1024 until %v", n, until, t0.Add(time.Hour))
	}

	moved := rebalance(t, b, t0.Add(2*time.Hour))
	// The new device's share is a quarter of 3072.
	if moved < 760 || moved > 780 {
		t.Errorf("adding a 4th equal device moved %d partition-replicas, want about 768", moved)
	}
	after := mustRing(t, b)
	checkDistinct(t, after, 3)
	checkShares(t, after, 0.02)
	for p := range after.Partitions() {
		kept := 0
		for _, d := range after.Primaries(p) {
			if before.IsPrimary(p, d) {
				kept++
			}
		}
		if kept < 2 {
			t.Fatalf("partition %d moved %d replicas in one rebalance", p, 3-kept)
		}
	}

	// Right after, nothing moves: what moved is locked, the rest is balanced.
	v := b.Version()
	if moved := rebalance(t, b, t0.Add(2*time.Hour+time.Minute)); moved != 0 {
		t.Errorf("second rebalance moved %d", moved)
	}
	if b.Version() != v {
		t.Errorf("a rebalance that changed nothing raised the version to %d", b.Version())
	}
}

func TestMinPartHoursZero(t *testing.T) {
	b := newBuilder(t, 8, 3, 0, dev(1, 1, "d1", 100), dev(1, 2, "d1", 100), dev(1, 3, "d1", 100))
	rebalance(t, b, t0)
	b.Add(dev(1, 4, "d1", 100))
	if moved := rebalance(t, b, t0); moved < 180 || moved > 200 {
		t.Errorf("moved %d, want about 192", moved)
	}
	checkShares(t, mustRing(t, b), 0.02)
}

func TestRemoveDevice(t *testing.T) {
	b := newBuilder(t, 10, 3, time.Hour, dev(1, 1, "d1", 100), dev(1, 2, "d1", 100), dev(1, 3, "d1", 100), dev(1, 4, "d1", 100))
	rebalance(t, b, t0)
	held := counts(mustRing(t, b))[2]
	if err := b.Remove(2); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(2); err == nil {
		t.Error("removing twice succeeded")
	}
	if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "marked for removal") {
		t.Errorf("Validate before rebalance = %v, want a device marked for removal", err)
	}
	// Within min part hours: the removed device's partitions move anyway.
	if moved := rebalance(t, b, t0.Add(time.Minute)); moved != held {
		t.Errorf("moved %d, want the %d the removed device held", moved, held)
	}
	r := mustRing(t, b)
	if counts(r)[2] != 0 {
		t.Errorf("removed device still holds %d", counts(r)[2])
	}
	for _, d := range b.Devices() {
		if d.ID == 2 {
			t.Error("removed device still in the builder")
		}
	}
	checkDistinct(t, r, 3)
	if err := b.SetWeight(2, 10); err == nil {
		t.Error("SetWeight of a removed device succeeded")
	}
	// Its address may come back as a new device.
	id, err := b.Add(dev(1, 3, "d1", 100))
	if err != nil || id != 4 {
		t.Errorf("re-adding = %d, %v; want new id 4", id, err)
	}
}

func TestSetWeightDrains(t *testing.T) {
	b := newBuilder(t, 10, 2, 0, dev(1, 1, "d1", 100), dev(1, 2, "d1", 100), dev(1, 3, "d1", 100))
	rebalance(t, b, t0)
	if err := b.SetWeight(0, 0); err != nil {
		t.Fatal(err)
	}
	rebalance(t, b, t0.Add(time.Hour))
	r := mustRing(t, b)
	if c := counts(r); c[0] != 0 || c[1] != 1024 || c[2] != 1024 {
		t.Errorf("counts after weight 0: %v", c)
	}
	if len(r.Devices()) != 2 {
		t.Errorf("Devices() = %v, want the two with weight", r.Devices())
	}
}

func TestFewerDevicesThanReplicas(t *testing.T) {
	b := newBuilder(t, 6, 3, time.Hour, dev(1, 1, "d1", 100), dev(1, 2, "d1", 50))
	rebalance(t, b, t0)
	r := mustRing(t, b)
	checkDistinct(t, r, 2)
	if len(r.Handoffs(0)) != 0 {
		t.Errorf("handoffs %v with every device primary", r.Handoffs(0))
	}
	b.Add(dev(1, 3, "d1", 100))
	rebalance(t, b, t0.Add(time.Minute)) // empty slots fill despite min part hours
	checkDistinct(t, mustRing(t, b), 3)
}

func TestValidate(t *testing.T) {
	b := newBuilder(t, 6, 3, 0)
	if _, _, err := b.Rebalance(t0); err == nil {
		t.Error("rebalance without devices succeeded")
	}
	b.Add(dev(1, 1, "d1", 100))
	b.Add(dev(1, 2, "d1", 100))
	b.Add(dev(1, 3, "d1", 100))
	if err := b.Validate(); err == nil {
		t.Error("Validate of a builder never rebalanced succeeded")
	}
	if err := b.WriteRing(filepath.Join(t.TempDir(), "x.ring")); err == nil {
		t.Error("WriteRing of an invalid builder succeeded")
	}
	rebalance(t, b, t0)
	b.assign[1][5] = b.assign[0][5]
	if err := b.Validate(); err == nil {
		t.Error("Validate with a device twice in a partition succeeded")
	}
}

func TestAddRefuses(t *testing.T) {
	b := newBuilder(t, 6, 3, 0, dev(1, 1, "d1", 100))
	good := dev(1, 2, "d2", 100)
	tests := []struct {
		name string
		edit func(*Device)
	}{
		{"duplicate", func(d *Device) { *d = dev(1, 1, "d1", 5) }},
		{"negative weight", func(d *Device) { d.Weight = -1 }},
		{"NaN weight", func(d *Device) { d.Weight = math.NaN() }},
		{"empty name", func(d *Device) { d.Name = "" }},
		{"name with slash", func(d *Device) { d.Name = "a/b" }},
		{"dot-dot name", func(d *Device) { d.Name = ".." }},
		{"port 0", func(d *Device) { d.Port = 0 }},
		{"port 65536", func(d *Device) { d.Port = 65536 }},
		{"empty ip", func(d *Device) { d.IP = "" }},
	}
	for _, tt := range tests {
		d := good
		tt.edit(&d)
		if _, err := b.Add(d); err == nil {
			t.Errorf("%s: Add succeeded", tt.name)
		}
	}
	if id, err := b.Add(Device{ID: 77, IP: "10.0.1.1", Port: 6201, Name: "d1", Weight: 1}); err != nil || id != 1 {
		t.Errorf("Add = %d, %v; want id 1 (same ip and name, other port)", id, err)
	}
	if err := b.SetWeight(9, 1); err == nil {
		t.Error("SetWeight of an unknown device succeeded")
	}
	if err := b.SetWeight(0, -3); err == nil {
		t.Error("SetWeight -3 succeeded")
	}
}

func TestRebalanceDeterministic(t *testing.T) {
	dir := t.TempDir()
	b := newBuilder(t, 10, 3, time.Hour, dev(1, 1, "d1", 100), dev(1, 2, "d1", 100), dev(1, 3, "d1", 100))
	rebalance(t, b, t0)
	b.Add(dev(2, 1, "d1", 150))
	path := filepath.Join(dir, "object.builder")
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	c, err := LoadBuilder(path)
	if err != nil {
		t.Fatal(err)
	}
	m1, bal1, _ := b.Rebalance(t0.Add(2 * time.Hour))
	m2, bal2, _ := c.Rebalance(t0.Add(2 * time.Hour))
	if m1 != m2 || bal1 != bal2 {
		t.Fatalf("copies rebalance differently: moved %d/%d, balance %v/%v", m1, m2, bal1, bal2)
	}
	r1, r2 := mustRing(t, b), mustRing(t, c)
	for p := range r1.Partitions() {
		if a, b := ids2(r1.Primaries(p)), ids2(r2.Primaries(p)); !equalInts(a, b) {
			t.Fatalf("partition %d: %v vs %v", p, a, b)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRebalanceRegions(t *testing.T) {
	// Two regions of equal weight, R=3: every partition has replicas in
	// both; within a region, zones differ.
	b := newBuilder(t, 10, 3, 0)
	for z := 1; z <= 3; z++ {
		b.Add(dev(1, z, "d1", 100))
		b.Add(dev(2, z, "d1", 100))
	}
	rebalance(t, b, t0)
	r := mustRing(t, b)
	checkShares(t, r, 0.01)
	for p := range r.Partitions() {
		regions := map[int]int{}
		zones := map[[2]int]bool{}
		for _, d := range r.Primaries(p) {
			regions[d.Region]++
			zones[[2]int{d.Region, d.Zone}] = true
		}
		if len(regions) != 2 || len(zones) != 3 {
			t.Fatalf("partition %d: regions %v, zones %v", p, regions, zones)
		}
	}
}

func TestRebalanceSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("slow in -short")
	}
	var devs []Device
	for z := 1; z <= 4; z++ {
		devs = append(devs, dev(1, z, "d1", 100), dev(1, z, "d2", 200))
	}
	b := newBuilder(t, 16, 3, time.Hour, devs...)
	start := time.Now()
	rebalance(t, b, t0)
	first := time.Since(start)
	b.Add(dev(1, 5, "d1", 300))
	start = time.Now()
	moved := rebalance(t, b, t0.Add(2*time.Hour))
	second := time.Since(start)
	t.Logf("part power 16, 8 devices: first rebalance %v, adding a 9th (moved %d) %v, balance %.2f%%", first, moved, second, b.Balance())
	if first > 2*time.Second || second > 2*time.Second {
		t.Errorf("rebalance too slow: %v, %v", first, second)
	}
	checkShares(t, mustRing(t, b), 0.01)
}

// TestRebalanceInvariants changes random clusters at random times and
// checks what every rebalance must keep: a valid assignment, no replica
// on a removed device, and no partition moved faster than min part hours
// and one replica per rebalance allow.
func TestRebalanceInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	randomDev := func(name string) Device {
		r, z := 1+rng.IntN(2), 1+rng.IntN(4)
		return Device{Region: r, Zone: z, IP: fmt.Sprintf("10.%d.%d.%d", r, z, rng.IntN(3)), Port: 6200, Name: name,
			Weight: float64(50 * (1 + rng.IntN(4)))}
	}
	for trial := range 40 {
		replicas := 1 + rng.IntN(4)
		b := newBuilder(t, 8, replicas, time.Hour)
		for i := range 2 + rng.IntN(10) {
			b.Add(randomDev(fmt.Sprint("d", i)))
		}
		now := t0
		rebalance(t, b, now)
		for step := range 6 {
			switch rng.IntN(3) {
			case 0:
				b.Add(randomDev(fmt.Sprint("n", step)))
			case 1:
				if ds := b.Devices(); len(ds) > 1 {
					b.Remove(ds[rng.IntN(len(ds))].ID)
				}
			case 2:
				ds := b.Devices()
				b.SetWeight(ds[rng.IntN(len(ds))].ID, float64(50*(1+rng.IntN(4))))
			}
			before := mustRing(t, b)
			removed := map[int]bool{}
			for _, u := range b.Usage() {
				removed[u.ID] = u.Removing
			}
			lastMoved := slices.Clone(b.lastMoved)
			now = now.Add(time.Duration(rng.IntN(120)) * time.Minute)
			rebalance(t, b, now)
			after := mustRing(t, b)
			for _, d := range after.Devices() {
				if removed[d.ID] {
					t.Fatalf("trial %d step %d: removed device %d in the ring", trial, step, d.ID)
				}
			}
			for p := range after.Partitions() {
				old := before.Primaries(p)
				forced := replicas - len(old) // empty slots
				for _, d := range old {
					if removed[d.ID] {
						forced++
					}
				}
				fresh := 0
				for _, d := range after.Primaries(p) {
					if !before.IsPrimary(p, d) {
						fresh++
					}
				}
				allowed := forced + 1
				if lastMoved[p] != 0 && now.Sub(time.Unix(lastMoved[p], 0)) < time.Hour {
					allowed = forced
				}
				if fresh > allowed {
					t.Fatalf("trial %d step %d: partition %d got %d new devices, %d allowed (forced %d, last moved %v before)",
						trial, step, p, fresh, allowed, forced, now.Sub(time.Unix(lastMoved[p], 0)))
				}
			}
		}
	}
}

func TestPending(t *testing.T) {
	b := newBuilder(t, 6, 3, 0, dev(1, 1, "d1", 100), dev(1, 2, "d1", 100), dev(1, 3, "d1", 100))
	if !b.Pending() {
		t.Error("added devices are not pending")
	}
	rebalance(t, b, t0)
	if b.Pending() {
		t.Error("pending after a rebalance")
	}
	b.SetWeight(1, 50)
	if !b.Pending() {
		t.Error("a new weight is not pending")
	}
}
