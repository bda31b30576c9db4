package placementclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
)

// Provider is a resource provider as placement shows it.
type Provider struct {
	UUID       string `json:"uuid"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
	ParentUUID string `json:"parent_provider_uuid,omitempty"`
	RootUUID   string `json:"root_provider_uuid,omitempty"`
}

// Provider returns the provider uuid (an error for which IsNotFound is
// true when there is none).
func (c *Client) Provider(ctx context.Context, uuid string) (Provider, error) {
	var p Provider
	err := c.do(ctx, http.MethodGet, "/resource_providers/"+esc(uuid), nil, &p)
	return p, err
}

// EnsureProvider returns the provider uuid, creating it named name when
// placement has none. A provider of that name with another uuid (a
// compute node recreated under a new uuid) is a 409 duplicate_name error.
func (c *Client) EnsureProvider(ctx context.Context, uuid, name string) (Provider, error) {
	p, err := c.Provider(ctx, uuid)
	if err == nil || !IsNotFound(err) {
		return p, err
	}
	err = c.do(ctx, http.MethodPost, "/resource_providers", map[string]string{"uuid": uuid, "name": name}, &p)
	if IsConflict(err) || isDuplicate(err) {
		// Another conductor created it first; or the name is taken.
		if q, gerr := c.Provider(ctx, uuid); gerr == nil {
			return q, nil
		}
	}
	return p, err
}

func isDuplicate(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeDuplicateName
}

// DeleteProvider removes a provider; one placement does not have is
// already gone.
func (c *Client) DeleteProvider(ctx context.Context, uuid string) error {
	err := c.do(ctx, http.MethodDelete, "/resource_providers/"+esc(uuid), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// Inventory is one resource class's inventory of a provider.
type Inventory struct {
	Total           int64   `json:"total"`
	Reserved        int64   `json:"reserved"`
	MinUnit         int64   `json:"min_unit"`
	MaxUnit         int64   `json:"max_unit"`
	StepSize        int64   `json:"step_size"`
	AllocationRatio float64 `json:"allocation_ratio"`
}

type inventories struct {
	Generation  int64                `json:"resource_provider_generation"`
	Inventories map[string]Inventory `json:"inventories"`
}

// Inventories returns a provider's inventories and its generation.
func (c *Client) Inventories(ctx context.Context, uuid string) (map[string]Inventory, int64, error) {
	var inv inventories
	err := c.do(ctx, http.MethodGet, "/resource_providers/"+esc(uuid)+"/inventories", nil, &inv)
	return inv.Inventories, inv.Generation, err
}

// SetInventories replaces a provider's inventories, given the
// generation the caller read; it returns the new generation.
func (c *Client) SetInventories(ctx context.Context, uuid string, generation int64, inv map[string]Inventory) (int64, error) {
	if inv == nil {
		inv = map[string]Inventory{}
	}
	var out inventories
	err := c.do(ctx, http.MethodPut, "/resource_providers/"+esc(uuid)+"/inventories",
		inventories{Generation: generation, Inventories: inv}, &out)
	return out.Generation, err
}

type traits struct {
	Generation int64    `json:"resource_provider_generation"`
	Traits     []string `json:"traits"`
}

// Traits returns a provider's traits (sorted) and its generation.
func (c *Client) Traits(ctx context.Context, uuid string) ([]string, int64, error) {
	var t traits
	err := c.do(ctx, http.MethodGet, "/resource_providers/"+esc(uuid)+"/traits", nil, &t)
	slices.Sort(t.Traits)
	return t.Traits, t.Generation, err
}

// SetTraits replaces a provider's traits; it returns the new generation.
// Custom traits (CUSTOM_*) must exist (EnsureTrait).
func (c *Client) SetTraits(ctx context.Context, uuid string, generation int64, names []string) (int64, error) {
	if names == nil {
		names = []string{}
	}
	var out traits
	err := c.do(ctx, http.MethodPut, "/resource_providers/"+esc(uuid)+"/traits",
		traits{Generation: generation, Traits: names}, &out)
	return out.Generation, err
}

// EnsureTrait creates a custom trait (no error when it exists).
func (c *Client) EnsureTrait(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPut, "/traits/"+esc(name), nil, nil)
}

type aggregates struct {
	Generation int64    `json:"resource_provider_generation"`
	Aggregates []string `json:"aggregates"`
}

// Aggregates returns the aggregate UUIDs a provider is in (sorted) and
// its generation.
func (c *Client) Aggregates(ctx context.Context, uuid string) ([]string, int64, error) {
	var a aggregates
	err := c.do(ctx, http.MethodGet, "/resource_providers/"+esc(uuid)+"/aggregates", nil, &a)
	slices.Sort(a.Aggregates)
	return a.Aggregates, a.Generation, err
}

// SetAggregates replaces the aggregates a provider is in; it returns the
// new generation.
func (c *Client) SetAggregates(ctx context.Context, uuid string, generation int64, aggs []string) (int64, error) {
	if aggs == nil {
		aggs = []string{}
	}
	var out aggregates
	err := c.do(ctx, http.MethodPut, "/resource_providers/"+esc(uuid)+"/aggregates",
		aggregates{Generation: generation, Aggregates: aggs}, &out)
	return out.Generation, err
}

// ProviderSpec is what a compute node's provider should be.
type ProviderSpec struct {
	UUID, Name  string
	Inventories map[string]Inventory
	Traits      []string // nil leaves the provider's traits alone
	Aggregates  []string // nil leaves its aggregates alone
}

// syncAttempts bounds the retries of SyncProvider on generation races.
const syncAttempts = 5

// SyncProvider makes placement's provider match spec: it creates the
// provider if needed, and replaces inventories, traits and aggregates
// that differ, rereading and retrying when it loses a race on the
// provider's generation. An inventory that cannot shrink below what is
// allocated (placement.inventory.inuse) is an error.
func (c *Client) SyncProvider(ctx context.Context, spec ProviderSpec) error {
	var err error
	for range syncAttempts {
		if err = c.syncOnce(ctx, spec); err == nil || !IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("sync provider %s: %w", spec.UUID, err)
}

func (c *Client) syncOnce(ctx context.Context, spec ProviderSpec) error {
	if _, err := c.EnsureProvider(ctx, spec.UUID, spec.Name); err != nil {
		return err
	}
	inv, gen, err := c.Inventories(ctx, spec.UUID)
	if err != nil {
		return err
	}
	if !maps.Equal(inv, spec.Inventories) {
		if _, err = c.SetInventories(ctx, spec.UUID, gen, spec.Inventories); err != nil {
			return err
		}
	}
	if spec.Traits != nil {
		have, tgen, err := c.Traits(ctx, spec.UUID)
		if err != nil {
			return err
		}
		want := slices.Sorted(slices.Values(spec.Traits))
		if !slices.Equal(have, want) {
			if _, err = c.SetTraits(ctx, spec.UUID, tgen, want); err != nil {
				return err
			}
		}
	}
	if spec.Aggregates != nil {
		have, agen, err := c.Aggregates(ctx, spec.UUID)
		if err != nil {
			return err
		}
		want := slices.Sorted(slices.Values(spec.Aggregates))
		if !slices.Equal(have, want) {
			if _, err = c.SetAggregates(ctx, spec.UUID, agen, want); err != nil {
				return err
			}
		}
	}
	return nil
}
