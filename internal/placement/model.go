package placement

import (
	"sort"
	"time"
)

// Provider is a resource provider. ParentUUID is "" for a root.
type Provider struct {
	UUID, Name           string
	Generation           int64
	ParentUUID, RootUUID string
	CreatedAt, UpdatedAt time.Time
}

// Inventory is what a provider has of one resource class.
type Inventory struct {
	ResourceClass                           string
	Total, Reserved, MinUnit, MaxUnit, Step int64
	AllocationRatio                         float64
	CreatedAt, UpdatedAt                    time.Time
}

// Capacity is what may be allocated: (total - reserved) * ratio, rounded
// down as placement does.
func (i *Inventory) Capacity() int64 {
	return int64(float64(i.Total-i.Reserved) * i.AllocationRatio)
}

// fits reports whether amount more can be allocated when used is taken,
// honouring min_unit, max_unit and step_size.
func (i *Inventory) fits(used, amount int64) bool {
	return float64(used+amount) <= float64(i.Total-i.Reserved)*i.AllocationRatio &&
		amount >= i.MinUnit && amount <= i.MaxUnit && i.Step > 0 && amount%i.Step == 0
}

// Consumer owns allocations: an instance, a migration, ...
type Consumer struct {
	UUID, ProjectID, UserID string
	Type                    string // "" = unknown (written before 1.38)
	Generation              int64
	CreatedAt, UpdatedAt    time.Time
}

// Allocation is what one consumer holds of one class on one provider.
type Allocation struct {
	ConsumerUUID, ProviderUUID, ResourceClass string
	Used                                      int64
	CreatedAt, UpdatedAt                      time.Time
}

// ResourceClass is a standard or CUSTOM_ class of resource.
type ResourceClass struct {
	Name                 string
	Standard             bool
	CreatedAt, UpdatedAt time.Time
}

// Trait is a standard or CUSTOM_ qualitative property.
type Trait struct {
	Name                 string
	CreatedAt, UpdatedAt time.Time
}

func micros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// latest returns the later of the times, for Last-Modified.
func latest(ts ...time.Time) time.Time {
	var t time.Time
	for _, x := range ts {
		if x.After(t) {
			t = x
		}
	}
	return t
}

func sortBy[T any](s []T, less func(a, b T) bool) {
	sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
}
