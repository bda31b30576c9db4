package ring

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// dev is a device on host 10.0.REGION.ZONE.
func dev(region, zone int, name string, weight float64) Device {
	return Device{Region: region, Zone: zone, IP: fmt.Sprintf("10.0.%d.%d", region, zone), Port: 6200, Name: name, Weight: weight}
}

func newBuilder(t testing.TB, partPower uint, replicas int, mph time.Duration, devs ...Device) *Builder {
	t.Helper()
	b, err := NewBuilder(partPower, replicas, mph)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if _, err := b.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func rebalance(t testing.TB, b *Builder, now time.Time) int {
	t.Helper()
	moved, _, err := b.Rebalance(now)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatalf("Validate after rebalance: %v", err)
	}
	return moved
}

func mustRing(t testing.TB, b *Builder) *Ring {
	t.Helper()
	r, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHashAndPartition(t *testing.T) {
	b := newBuilder(t, 10, 1, 0, dev(1, 1, "d1", 1))
	b.prefix, b.suffix = "d1a5d1b7", "8b6e4f0a"
	rebalance(t, b, t0)
	r := mustRing(t, b)
	tests := []struct {
		account, container, object string
		path                       string // what is hashed between the salts
		hash                       string // known value, as Swift computes it
		part                       int
	}{
		{"AUTH_test", "", "", "/AUTH_test", "13cd3cc3ceaa7c8493d8b46d4047aac4", 79},
		{"AUTH_test", "c", "", "/AUTH_test/c", "a1211d893ab2dc36731c2256ab9eb8b8", 644},
		{"AUTH_test", "c", "o", "/AUTH_test/c/o", "9025d3863f0f35f44ec201472f5caa53", 576},
		{"AUTH_test", "", "o", "/AUTH_test", "13cd3cc3ceaa7c8493d8b46d4047aac4", 79},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			sum := md5.Sum([]byte("d1a5d1b7" + tt.path + "8b6e4f0a"))
			if got := hex.EncodeToString(sum[:]); got != tt.hash {
				t.Fatalf("test table: md5 = %s, want %s", got, tt.hash)
			}
			if got := int(binary.BigEndian.Uint32(sum[:4]) >> (32 - 10)); got != tt.part {
				t.Fatalf("test table: partition = %d, want %d", got, tt.part)
			}
			if got := r.Hash(tt.account, tt.container, tt.object); got != tt.hash {
				t.Errorf("Hash = %s, want %s", got, tt.hash)
			}
			if got := r.Partition(tt.account, tt.container, tt.object); got != tt.part {
				t.Errorf("Partition = %d, want %d", got, tt.part)
			}
			if got, err := r.PartitionOfHash(tt.hash); err != nil || got != tt.part {
				t.Errorf("PartitionOfHash = %d, %v, want %d", got, err, tt.part)
			}
		})
	}
	for _, bad := range []string{"", "13cd3cc3", "zzcd3cc3ceaa7c8493d8b46d4047aac4", "13cd3cc3ceaa7c8493d8b46d4047aacx"} {
		if _, err := r.PartitionOfHash(bad); err == nil {
			t.Errorf("PartitionOfHash(%q) succeeded", bad)
		}
	}
}

func TestNewBuilderSalts(t *testing.T) {
	a, b := newBuilder(t, 8, 3, 0), newBuilder(t, 8, 3, 0)
	for _, s := range []string{a.prefix, a.suffix} {
		if _, err := hex.DecodeString(s); err != nil || len(s) != 32 {
			t.Errorf("salt %q is not 16 hex bytes", s)
		}
	}
	if a.prefix == b.prefix || a.prefix == a.suffix {
		t.Errorf("salts repeat: %s %s %s", a.prefix, a.suffix, b.prefix)
	}
	for _, tt := range []struct {
		p uint
		r int
	}{{0, 3}, {25, 3}, {10, 0}, {10, 11}} {
		if _, err := NewBuilder(tt.p, tt.r, 0); err == nil {
			t.Errorf("NewBuilder(%d, %d) succeeded", tt.p, tt.r)
		}
	}
}

func TestPrimariesAndHandoffs(t *testing.T) {
	var devs []Device
	for z := 1; z <= 4; z++ {
		devs = append(devs, dev(1+(z-1)/2, z, "a", 100), dev(1+(z-1)/2, z, "b", 100))
	}
	b := newBuilder(t, 8, 2, time.Hour, devs...)
	b.Add(Device{Region: 1, Zone: 1, IP: "10.0.9.9", Port: 6200, Name: "empty", Weight: 0})
	rebalance(t, b, t0)
	r := mustRing(t, b)
	all := r.Devices()
	if len(all) != 8 {
		t.Fatalf("Devices() = %d devices, want the 8 with weight", len(all))
	}
	zoneOf := func(d Device) [2]int { return [2]int{d.Region, d.Zone} }
	for p := range r.Partitions() {
		prim := r.Primaries(p)
		if len(prim) != 2 || prim[0].ID == prim[1].ID {
			t.Fatalf("partition %d: primaries %v", p, prim)
		}
		if prim[0].Region == prim[1].Region {
			t.Errorf("partition %d: both replicas in region %d", p, prim[0].Region)
		}
		for _, d := range prim {
			if !r.IsPrimary(p, d) {
				t.Errorf("IsPrimary(%d, %d) = false", p, d.ID)
			}
		}
		hand := r.Handoffs(p)
		seen := map[int]bool{}
		for _, d := range append(slices.Clone(prim), hand...) {
			if seen[d.ID] {
				t.Fatalf("partition %d: device %d twice in primaries+handoffs", p, d.ID)
			}
			seen[d.ID] = true
		}
		if len(seen) != len(all) {
			t.Fatalf("partition %d: primaries+handoffs cover %d devices, want %d", p, len(seen), len(all))
		}
		for _, d := range hand {
			if r.IsPrimary(p, d) {
				t.Errorf("partition %d: handoff %d is a primary", p, d.ID)
			}
		}
		// Primaries use both regions, so the first two handoffs are in
		// the two zones the primaries do not use.
		used := map[[2]int]bool{zoneOf(prim[0]): true, zoneOf(prim[1]): true}
		for _, d := range hand[:2] {
			if used[zoneOf(d)] {
				t.Errorf("partition %d: handoffs %v: %d is in a zone already used", p, ids2(hand), d.ID)
			}
			used[zoneOf(d)] = true
		}
		if again := r.Handoffs(p); !slices.Equal(ids2(again), ids2(hand)) {
			t.Fatalf("partition %d: handoffs not stable: %v then %v", p, ids2(hand), ids2(again))
		}
	}
	// Different partitions start their handoffs on different devices.
	first := map[int]int{}
	for p := range r.Partitions() {
		first[r.Handoffs(p)[0].ID]++
	}
	if len(first) < 6 {
		t.Errorf("first handoffs use only devices %v", first)
	}
	// Results are the caller's.
	prim := r.Primaries(0)
	prim[0].ID = 999
	if r.Primaries(0)[0].ID == 999 {
		t.Error("Primaries shares its slice")
	}
	if r.Primaries(-1) != nil || r.Primaries(r.Partitions()) != nil || r.Handoffs(r.Partitions()) != nil {
		t.Error("out-of-range partition has devices")
	}
}

func ids2(ds []Device) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func TestDeviceAddr(t *testing.T) {
	if got := (Device{IP: "::1", Port: 6200}).Addr(); got != "[::1]:6200" {
		t.Errorf("Addr = %s", got)
	}
	if got := (Device{IP: "10.0.0.1", Port: 6200}).Addr(); got != "10.0.0.1:6200" {
		t.Errorf("Addr = %s", got)
	}
}

func TestRingMatchesBuilder(t *testing.T) {
	b := newBuilder(t, 6, 3, 0, dev(1, 1, "d1", 1), dev(1, 2, "d2", 1), dev(1, 3, "d3", 1))
	rebalance(t, b, t0)
	r := mustRing(t, b)
	if r.Version() != 1 || r.Replicas() != 3 || r.PartPower() != 6 || r.Partitions() != 64 {
		t.Errorf("ring: version %d, replicas %d, part power %d, partitions %d", r.Version(), r.Replicas(), r.PartPower(), r.Partitions())
	}
	if diff := cmp.Diff(b.Devices(), r.Devices()); diff != "" {
		t.Errorf("devices (-builder +ring):\n%s", diff)
	}
}

func BenchmarkPrimaries(b *testing.B) {
	r := benchRing(b)
	for i := 0; b.Loop(); i++ {
		_ = r.Primaries(i & (r.Partitions() - 1))
	}
}

func BenchmarkHandoffs(b *testing.B) {
	r := benchRing(b)
	for i := 0; b.Loop(); i++ {
		_ = r.Handoffs(i & (r.Partitions() - 1))
	}
}

func BenchmarkPartition(b *testing.B) {
	r := benchRing(b)
	for b.Loop() {
		_ = r.Partition("AUTH_test", "container", "some/object/name.jpg")
	}
}

func benchRing(tb testing.TB) *Ring {
	var devs []Device
	for z := 1; z <= 6; z++ {
		devs = append(devs, dev(1, z, "d1", 100), dev(1, z, "d2", 100))
	}
	b := newBuilder(tb, 14, 3, 0, devs...)
	rebalance(tb, b, t0)
	return mustRing(tb, b)
}
