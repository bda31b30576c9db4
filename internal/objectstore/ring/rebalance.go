package ring

import (
	"errors"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// maxPasses bounds the rounds of spreading and balancing moves in one
// rebalance; later rounds only mend what earlier ones could not.
const maxPasses = 8

// Rebalance reassigns partition-replicas so that each device holds a
// share proportional to its weight, moving as few as it can:
//
//   - each device gets a target count, its weight's share (but at most one
//     replica of every partition); a region, zone or host wants the sum of
//     its devices' targets, and may hold at most ceil(that / partitions)
//     replicas of one partition, so replicas spread over regions, then
//     zones, then hosts as far as the weights allow;
//   - replicas leave devices marked for removal, whatever min part hours
//     says, and empty slots are filled (on a first rebalance, all of them);
//   - then replicas move out of tiers holding too many of their partition,
//     and off devices holding more than their target: regions are evened
//     out first, then zones within them, hosts, devices; a device that can
//     only be relieved through others passes partitions along a chain;
//   - but at most one replica of a partition moves per rebalance, none of
//     a partition that moved less than min part hours ago, and no move
//     spreads a partition worse.
//
// moved counts the partition-replicas placed on a device that did not hold
// them before. balance is the largest deviation, in percent, of a device
// from its weight's share. The version goes up when the ring changed
// (moves, or devices added, removed or reweighted). Choices are random
// with a seed from the builder, so a builder and its copy rebalance alike.
func (b *Builder) Rebalance(now time.Time) (moved int, balance float64, err error) {
	rb, err := newRebalancer(b, now)
	if err != nil {
		return 0, b.Balance(), err
	}
	rb.placeForced()
	for range maxPasses {
		if rb.fixSpread()+rb.fixOverload() == 0 {
			break
		}
	}
	if rb.over > 0 {
		rb.fixChains()
	}
	moved = rb.commit()
	kept := b.devs[:0]
	for _, d := range b.devs {
		if !d.removing {
			kept = append(kept, d)
		}
	}
	b.devs = kept
	if moved > 0 || b.dirty {
		b.version++
		b.dirty = false
	}
	return moved, b.Balance(), nil
}

// Levels of the failure domain tree, top down.
const (
	levelRegion = iota
	levelZone
	levelHost
	levelDevice
	levels
)

// rebalancer is the working state of one Rebalance. Devices are indices
// into b.devs; slots are p*R+r.
type rebalancer struct {
	b        *Builder
	n, r     int // devices, replicas
	parts    int
	now      int64
	eligible []bool // may receive replicas: weight > 0, not being removed
	// node[l][d] is device d's node at level l; want and have count the
	// partition-replicas a node should and does hold (a node's want is the
	// sum of its devices' targets); over sums have-want where positive,
	// over all levels.
	node  [levels][]int32
	want  [levels][]int
	have  [levels][]int
	over  int
	allow [levelDevice][]int // per region, zone and host: most replicas of one partition

	cur     []int32 // device per slot, -1 for none
	free    []bool  // slot empty or on a removing device at the start: moving it again costs nothing
	touched []bool  // partition lost a replica from a live device in this call
	perm    []int32 // partitions in a random order
	rng     *rand.Rand
}

func newRebalancer(b *Builder, now time.Time) (*rebalancer, error) {
	n, R, parts := len(b.devs), b.replicas, 1<<b.partPower
	rb := &rebalancer{b: b, n: n, r: R, parts: parts, now: now.Unix(), eligible: make([]bool, n),
		cur: make([]int32, parts*R), free: make([]bool, parts*R), touched: make([]bool, parts)}
	weights := make([]float64, n)
	live := 0
	for i, d := range b.devs {
		if !d.removing && d.Weight > 0 {
			rb.eligible[i], weights[i] = true, d.Weight
			live++
		}
	}
	if live == 0 {
		return nil, errors.New("ring: no devices with weight > 0 to rebalance onto")
	}
	target := targets(weights, parts, min(R, live))

	regions, zones, hosts := map[int]int32{}, map[[2]int]int32{}, map[string]int32{}
	for l := range rb.node {
		rb.node[l] = make([]int32, n)
	}
	for i, d := range b.devs {
		rb.node[levelRegion][i] = intern(regions, d.Region)
		rb.node[levelZone][i] = intern(zones, [2]int{d.Region, d.Zone})
		rb.node[levelHost][i] = intern(hosts, strconv.Itoa(d.Region)+"/"+strconv.Itoa(d.Zone)+"/"+d.IP)
		rb.node[levelDevice][i] = int32(i)
	}
	for l, size := range [levels]int{len(regions), len(zones), len(hosts), n} {
		rb.want[l], rb.have[l] = make([]int, size), make([]int, size)
		for i := range n {
			rb.want[l][rb.node[l][i]] += target[i]
		}
		if l < levelDevice {
			rb.allow[l] = make([]int, size)
			for k, w := range rb.want[l] {
				rb.allow[l][k] = int(math.Ceil(float64(w)/float64(parts) - 1e-9))
			}
		}
	}

	index := b.index()
	for r, row := range b.assign {
		for p, id := range row {
			s := p*R + r
			rb.cur[s] = -1
			if id != noDevice {
				rb.put(s, int32(index[id]))
			}
		}
	}

	h := fnv.New64a()
	h.Write([]byte(b.prefix))
	rb.rng = rand.New(rand.NewPCG(h.Sum64(), uint64(b.version)))
	rb.perm = make([]int32, parts)
	for i := range rb.perm {
		rb.perm[i] = int32(i)
	}
	rb.rng.Shuffle(parts, func(i, j int) { rb.perm[i], rb.perm[j] = rb.perm[j], rb.perm[i] })
	return rb, nil
}

// targets splits parts*replicas partition-replicas over the devices by
// weight, giving none more than parts (one replica of each partition).
func targets(weights []float64, parts, replicas int) []int {
	n := len(weights)
	capped := make([]bool, n)
	share := make([]float64, n)
	total := parts * replicas
	for {
		var w float64
		left := float64(total)
		for i := range n {
			if capped[i] {
				left -= float64(parts)
			} else {
				w += weights[i]
			}
		}
		again := false
		for i := range n {
			if capped[i] || weights[i] == 0 {
				continue
			}
			share[i] = weights[i] / w * left
			if share[i] > float64(parts) {
				capped[i], share[i], again = true, float64(parts), true
			}
		}
		if !again {
			break
		}
	}
	// Largest remainders get the rounding, ties to the lower index.
	out := make([]int, n)
	sum := 0
	for i, s := range share {
		out[i] = int(math.Floor(s + 1e-9))
		sum += out[i]
	}
	for sum < total {
		best, frac := -1, -1.0
		for i, s := range share {
			if f := s - float64(out[i]); weights[i] > 0 && out[i] < parts && f > frac {
				best, frac = i, f
			}
		}
		if best < 0 {
			break
		}
		out[best]++
		sum++
	}
	return out
}

func (rb *rebalancer) movable(s int) bool {
	p := s / rb.r
	return rb.free[s] || (!rb.touched[p] && !rb.b.locked(rb.b.lastMoved[p], rb.now))
}

// take empties slot s.
func (rb *rebalancer) take(s int) {
	d := rb.cur[s]
	if d < 0 {
		return
	}
	for l := range levels {
		k := rb.node[l][d]
		if rb.have[l][k] > rb.want[l][k] {
			rb.over--
		}
		rb.have[l][k]--
	}
	rb.cur[s] = -1
}

// put gives slot s, empty, to device d.
func (rb *rebalancer) put(s int, d int32) {
	rb.cur[s] = d
	for l := range levels {
		k := rb.node[l][d]
		rb.have[l][k]++
		if rb.have[l][k] > rb.want[l][k] {
			rb.over++
		}
	}
}

// placeForced empties the slots on removing devices and fills every
// empty slot, replica by replica so devices fill evenly.
func (rb *rebalancer) placeForced() {
	for r := range rb.r {
		for _, p32 := range rb.perm {
			p := int(p32)
			s := p*rb.r + r
			d := rb.cur[s]
			if d >= 0 && !rb.b.devs[d].removing {
				continue
			}
			if d >= 0 {
				rb.touched[p] = true
				rb.take(s)
			}
			rb.free[s] = true
			if best, _, ok := rb.best(s); ok {
				rb.put(s, best)
			}
		}
	}
}

// fixSpread moves, for each partition with more replicas in a region,
// zone or host than that tier's limit, one of them where it breaks fewer
// limits. It returns how many moved.
func (rb *rebalancer) fixSpread() int {
	R, moved := rb.r, 0
	for _, p32 := range rb.perm {
		p := int(p32)
		base := p * R
	tiers:
		for l := range levelDevice {
			for r := range R {
				s := base + r
				d := rb.cur[s]
				if d < 0 || !rb.movable(s) {
					continue
				}
				k := rb.node[l][d]
				cnt := 0
				for j := range R {
					if e := rb.cur[base+j]; e >= 0 && rb.node[l][e] == k {
						cnt++
					}
				}
				if cnt <= rb.allow[l][k] {
					continue
				}
				rb.take(s)
				here := rb.key(s, d)
				if to, key, ok := rb.best(s); ok && key.violates < here.violates {
					rb.moved(s, to)
					moved++
					break tiers
				}
				rb.put(s, d)
			}
		}
	}
	return moved
}

// fixOverload moves, for each partition, at most one replica from a
// device holding more than its target to another device, where at the
// highest level they differ the source's node holds more than it wants
// and the destination's less (so regions balance first, then zones in
// them, and so on), without spreading the partition worse. It returns how
// many moved.
func (rb *rebalancer) fixOverload() int {
	R, moved := rb.r, 0
	for _, p32 := range rb.perm {
		p := int(p32)
		if rb.over == 0 {
			break
		}
		bestS, bestTo, bestL := -1, int32(-1), levels
		var bestKey placeKey
		for r := range R {
			s := p*R + r
			d := rb.cur[s]
			if d < 0 || !rb.movable(s) || rb.have[levelDevice][d] <= rb.want[levelDevice][d] {
				continue
			}
			rb.take(s)
			here := rb.key(s, d)
			for e := range int32(rb.n) {
				if e == d || !rb.eligible[e] {
					continue
				}
				l := levelRegion
				for rb.node[l][d] == rb.node[l][e] {
					l++
				}
				// d's node lost this replica already: it was over if it
				// still has at least what it wants.
				kd, ke := rb.node[l][d], rb.node[l][e]
				if l > bestL || rb.have[l][kd] < rb.want[l][kd] || rb.have[l][ke] >= rb.want[l][ke] {
					continue
				}
				key, ok := rb.scoreAt(s, e)
				if !ok || key.violates > here.violates {
					continue
				}
				if l < bestL || key.better(bestKey) {
					bestS, bestTo, bestL, bestKey = s, e, l, key
				}
			}
			rb.put(s, d)
		}
		if bestS >= 0 {
			rb.take(bestS)
			rb.moved(bestS, bestTo)
			moved++
		}
	}
	return moved
}

// fixChains balances devices the direct moves of fixOverload cannot:
// when no partition of an overloaded device may go to an underloaded one,
// a chain may (a partition from d to e, another from e to f, ...). It is
// a search for augmenting paths over devices; each moved replica is the
// only one of its partition moving in this call. It returns how many
// moved.
func (rb *rebalancer) fixChains() int {
	n := rb.n
	// wit[d*n+e] lists slots whose replica may move from d to e without
	// spreading its partition worse: edges of the search.
	const perEdge = 32
	wit := make([][]int32, n*n)
	R := rb.r
	for _, p32 := range rb.perm {
		p := int(p32)
		for r := range R {
			s := p*R + r
			d := rb.cur[s]
			if d < 0 || !rb.movable(s) {
				continue
			}
			rb.take(s)
			here := rb.key(s, d)
			for e := range int32(n) {
				if e == d || !rb.eligible[e] || len(wit[int(d)*n+int(e)]) >= perEdge {
					continue
				}
				if k, ok := rb.scoreAt(s, e); ok && k.violates <= here.violates {
					wit[int(d)*n+int(e)] = append(wit[int(d)*n+int(e)], int32(s))
				}
			}
			rb.put(s, d)
		}
	}
	// valid finds a witness of the edge d->e that still holds, dropping
	// the ones that no longer do.
	valid := func(d, e int32) int {
		w := wit[int(d)*n+int(e)]
		for len(w) > 0 {
			s := int(w[0])
			if rb.cur[s] == d && rb.movable(s) {
				rb.take(s)
				here := rb.key(s, d)
				k, ok := rb.scoreAt(s, e)
				rb.put(s, d)
				if ok && k.violates <= here.violates {
					wit[int(d)*n+int(e)] = w
					return s
				}
			}
			w = w[1:]
		}
		wit[int(d)*n+int(e)] = w
		return -1
	}
	dev := rb.have[levelDevice]
	want := rb.want[levelDevice]
	moved := 0
	prev := make([]int32, n)
	queue := make([]int32, 0, n)
	for tries := 4*rb.over + n; rb.over > 0 && tries > 0; tries-- {
		for i := range prev {
			prev[i] = -2
		}
		queue = queue[:0]
		for d := range int32(n) {
			if dev[d] > want[d] {
				prev[d] = -1
				queue = append(queue, d)
			}
		}
		sink := int32(-1)
		for i := 0; i < len(queue) && sink < 0; i++ {
			d := queue[i]
			for e := range int32(n) {
				if prev[e] != -2 || !rb.eligible[e] || valid(d, e) < 0 {
					continue
				}
				prev[e] = d
				if dev[e] < want[e] {
					sink = e
					break
				}
				queue = append(queue, e)
			}
		}
		if sink < 0 {
			break
		}
		// Move along the path from the sink back; a witness gone stale
		// (its partition moved earlier on this path) ends the path early,
		// which leaves the counts consistent: every device before it on
		// the path gave one and took one.
		for e := sink; prev[e] >= 0; e = prev[e] {
			d := prev[e]
			s := valid(d, e)
			if s < 0 {
				break
			}
			rb.take(s)
			rb.moved(s, e)
			moved++
		}
	}
	return moved
}

// moved puts the replica taken from slot s on device to.
func (rb *rebalancer) moved(s int, to int32) {
	rb.put(s, to)
	if !rb.free[s] {
		rb.touched[s/rb.r] = true
	}
}

// best is the device for the empty slot s: one not holding the partition
// yet, breaking the fewest spreading limits, in the nodes most below what
// they want. Among devices alike in that, one below its target is drawn at
// random, weighted by how many it wants: always taking the neediest would
// deal partitions round-robin, and partitions would share devices in
// patterns (then a device's partitions could only go to few others when
// it fails or is removed).
func (rb *rebalancer) best(s int) (int32, placeKey, bool) {
	best := int32(-1)
	var bk placeKey
	total := 0
	for d := range int32(rb.n) {
		if !rb.eligible[d] {
			continue
		}
		k, ok := rb.scoreAt(s, d)
		if !ok {
			continue
		}
		need := rb.want[levelDevice][d] - rb.have[levelDevice][d]
		switch {
		case best < 0 || (!k.alike(bk) && k.better(bk)):
			best, bk, total = d, k, max(need, 0)
		case !k.alike(bk):
		case k.under[levelDevice]:
			total += need
			if rb.rng.IntN(total) < need {
				best, bk = d, k
			}
		case k.better(bk):
			best, bk = d, k
		}
	}
	return best, bk, best >= 0
}

// key scores device d for the empty slot s, whether or not d could take
// it.
func (rb *rebalancer) key(s int, d int32) placeKey {
	k, _ := rb.scoreAt(s, d)
	return k
}

// scoreAt scores device d for the empty slot s; false if d holds the
// partition already.
func (rb *rebalancer) scoreAt(s int, d int32) (placeKey, bool) {
	R := rb.r
	base := s / R * R
	var k placeKey
	for j := range R {
		e := rb.cur[base+j]
		if e < 0 {
			continue
		}
		if e == d {
			return k, false
		}
		for l := range levelDevice {
			if rb.node[l][e] == rb.node[l][d] {
				k.same[l]++
			}
		}
	}
	for l := range levelDevice {
		if k.same[l]+1 > rb.allow[l][rb.node[l][d]] {
			k.violates |= 4 >> l
		}
	}
	for l := range levels {
		kn := rb.node[l][d]
		k.under[l] = rb.have[l][kn] < rb.want[l][kn]
	}
	k.load = float64(rb.have[levelDevice][d]-rb.want[levelDevice][d]) / float64(max(rb.want[levelDevice][d], 1))
	return k, true
}

type placeKey struct {
	violates int              // spreading limits broken, bits: region 4, zone 2, host 1
	under    [levels]bool     // the device's region, zone, host and itself hold less than they want
	load     float64          // the device's relative excess (> 0) or shortfall
	same     [levelDevice]int // replicas of the partition already in its region, zone, host
}

// alike: as good a place for the partition's spread and the balance of
// regions, zones and hosts.
func (k placeKey) alike(o placeKey) bool { return k.violates == o.violates && k.under == o.under }

func (k placeKey) better(o placeKey) bool {
	if k.violates != o.violates {
		return k.violates < o.violates
	}
	for l := range k.under {
		if k.under[l] != o.under[l] {
			return k.under[l]
		}
	}
	if k.load != o.load {
		return k.load < o.load
	}
	for l := range k.same {
		if k.same[l] != o.same[l] {
			return k.same[l] < o.same[l]
		}
	}
	return false
}

// commit writes the new assignment into the builder and counts the
// replicas that landed on a device new to their partition.
func (rb *rebalancer) commit() int {
	b, R := rb.b, rb.r
	moved := 0
	newIDs := make([]uint16, R)
	for p := range rb.parts {
		for r := range R {
			newIDs[r] = noDevice
			if d := rb.cur[p*R+r]; d >= 0 {
				newIDs[r] = uint16(b.devs[d].ID)
			}
		}
		changed := false
		for r := range R {
			if newIDs[r] == noDevice {
				continue
			}
			held := false
			for k := range R {
				if b.assign[k][p] == newIDs[r] {
					held = true
					break
				}
			}
			if !held {
				moved++
				changed = true
			}
		}
		for r := range R {
			if b.assign[r][p] != newIDs[r] {
				b.assign[r][p] = newIDs[r]
				changed = true
			}
		}
		if changed {
			b.lastMoved[p] = rb.now
		}
	}
	return moved
}
