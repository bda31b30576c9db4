package placementclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// CandidatesQuery is a GET /allocation_candidates request in one
// (unnumbered) request group.
type CandidatesQuery struct {
	Resources map[string]int64 // resource class -> amount; zero amounts are left out
	Required  []string         // traits the provider must have
	Forbidden []string         // traits it must not have
	// MemberOf: each inner list is one member_of parameter ("in:a,b",
	// any of them); the provider must match every list.
	MemberOf [][]string
	InTree   string // a provider in whose tree the candidates must be
	Limit    int    // 0 = no limit
}

// Encode is the query string of q, resources in a stable order.
func (q CandidatesQuery) Encode() string {
	v := url.Values{}
	var res []string
	for _, rc := range slices.Sorted(mapsKeys(q.Resources)) {
		if n := q.Resources[rc]; n > 0 {
			res = append(res, rc+":"+strconv.FormatInt(n, 10))
		}
	}
	v.Set("resources", strings.Join(res, ","))
	traits := slices.Clone(q.Required)
	for _, t := range q.Forbidden {
		traits = append(traits, "!"+t)
	}
	if len(traits) > 0 {
		v.Set("required", strings.Join(traits, ","))
	}
	for _, m := range q.MemberOf {
		if len(m) > 0 {
			v.Add("member_of", "in:"+strings.Join(m, ","))
		}
	}
	if q.InTree != "" {
		v.Set("in_tree", q.InTree)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v.Encode()
}

func mapsKeys(m map[string]int64) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Candidates is placement's answer to an allocation candidates query.
type Candidates struct {
	AllocationRequests []AllocationRequest        `json:"allocation_requests"`
	ProviderSummaries  map[string]ProviderSummary `json:"provider_summaries"`
}

// AllocationRequest is one way to satisfy the query: the body to PUT to
// /allocations/{consumer} (with the consumer's fields added).
type AllocationRequest struct {
	Allocations map[string]Resources `json:"allocations"` // provider uuid ->
	Mappings    map[string][]string  `json:"mappings,omitempty"`
}

// Resources are amounts by resource class.
type Resources struct {
	Resources map[string]int64 `json:"resources"`
}

// ProviderSummary is a provider in the candidates: capacity and usage by
// resource class, traits, and its place in its tree.
type ProviderSummary struct {
	Resources  map[string]Capacity `json:"resources"`
	Traits     []string            `json:"traits"`
	ParentUUID string              `json:"parent_provider_uuid"`
	RootUUID   string              `json:"root_provider_uuid"`
}

// Capacity is (total - reserved) * allocation_ratio, and what is used.
type Capacity struct {
	Capacity int64 `json:"capacity"`
	Used     int64 `json:"used"`
}

// AllocationCandidates asks placement where q fits.
func (c *Client) AllocationCandidates(ctx context.Context, q CandidatesQuery) (Candidates, error) {
	var out Candidates
	err := c.do(ctx, http.MethodGet, "/allocation_candidates?"+q.Encode(), nil, &out)
	return out, err
}

// Allocations are a consumer's allocations (GET and PUT
// /allocations/{consumer}).
type Allocations struct {
	// Allocations by provider uuid; on GET each carries the provider's
	// generation.
	Allocations map[string]ProviderAllocation `json:"allocations"`
	// ConsumerGeneration: nil for a new consumer (a PUT sends null); a
	// PUT must give the generation read, else it is a conflict.
	ConsumerGeneration *int64 `json:"consumer_generation"`
	ProjectID          string `json:"project_id"`
	UserID             string `json:"user_id"`
	// ConsumerType (1.38): "INSTANCE" for servers, the default of a PUT.
	ConsumerType string `json:"consumer_type,omitempty"`
}

// ProviderAllocation is what a consumer holds of one provider.
type ProviderAllocation struct {
	Resources  map[string]int64 `json:"resources"`
	Generation *int64           `json:"generation,omitempty"` // GET only
}

// Allocations returns a consumer's allocations; a consumer that holds
// nothing has none and a nil generation.
func (c *Client) Allocations(ctx context.Context, consumer string) (Allocations, error) {
	var a Allocations
	err := c.do(ctx, http.MethodGet, "/allocations/"+esc(consumer), nil, &a)
	if a.Allocations == nil {
		a.Allocations = map[string]ProviderAllocation{}
	}
	return a, err
}

// PutAllocations replaces a consumer's allocations. With
// a.ConsumerGeneration nil the consumer must be new (a claim); losing a
// race, or resources no longer fitting, is an error for which IsConflict
// is true.
func (c *Client) PutAllocations(ctx context.Context, consumer string, a Allocations) error {
	// The caller's map is left alone: a PUT carries no provider
	// generations.
	allocs := make(map[string]ProviderAllocation, len(a.Allocations))
	for rp, pa := range a.Allocations {
		allocs[rp] = ProviderAllocation{Resources: pa.Resources}
	}
	a.Allocations = allocs
	if a.ConsumerType == "" {
		a.ConsumerType = "INSTANCE"
	}
	return c.do(ctx, http.MethodPut, "/allocations/"+esc(consumer), a, nil)
}

// Claim puts the allocations of one candidate for a new consumer.
func (c *Client) Claim(ctx context.Context, consumer, projectID, userID string, req AllocationRequest) error {
	a := Allocations{Allocations: map[string]ProviderAllocation{}, ProjectID: projectID, UserID: userID}
	for rp, r := range req.Allocations {
		a.Allocations[rp] = ProviderAllocation{Resources: r.Resources}
	}
	return c.PutAllocations(ctx, consumer, a)
}

// DeleteAllocations frees everything a consumer holds; a consumer
// without allocations is fine.
func (c *Client) DeleteAllocations(ctx context.Context, consumer string) error {
	err := c.do(ctx, http.MethodDelete, "/allocations/"+esc(consumer), nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// ProviderUsages is what is allocated of a provider, by resource class.
func (c *Client) ProviderUsages(ctx context.Context, uuid string) (map[string]int64, error) {
	var out struct {
		Usages map[string]int64 `json:"usages"`
	}
	err := c.do(ctx, http.MethodGet, "/resource_providers/"+esc(uuid)+"/usages", nil, &out)
	return out.Usages, err
}

// Usages is what a project (and a user, when userID is set) holds, by
// resource class (GET /usages).
func (c *Client) Usages(ctx context.Context, projectID, userID string) (map[string]int64, error) {
	v := url.Values{"project_id": {projectID}}
	if userID != "" {
		v.Set("user_id", userID)
	}
	var out struct {
		Usages map[string]int64 `json:"usages"`
	}
	if projectID == "" {
		return nil, fmt.Errorf("placement usages: no project")
	}
	// 1.37: usages by class, before 1.38 grouped them by consumer type.
	err := c.doVersion(ctx, "1.37", http.MethodGet, "/usages?"+v.Encode(), nil, &out)
	return out.Usages, err
}
