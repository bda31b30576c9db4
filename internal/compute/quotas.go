package compute

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// quotaResources are Nova's quota resources, sorted. fixed_ips,
// floating_ips and the security group ones are nova-network leftovers,
// unlimited and hidden from 2.36.
var quotaResources = []string{
	"cores", "fixed_ips", "floating_ips", "injected_file_content_bytes", "injected_file_path_bytes",
	"injected_files", "instances", "key_pairs", "metadata_items", "ram", "security_group_rules",
	"security_groups", "server_group_members", "server_groups",
}

func isQuotaResource(name string) bool {
	i := sort.SearchStrings(quotaResources, name)
	return i < len(quotaResources) && quotaResources[i] == name
}

// defaultClass is the quota class whose limits replace the configured
// defaults.
const defaultClass = "default"

// configDefault is a resource's limit from configuration.
func (s *Service) configDefault(res string) int64 {
	q := s.cfg.Quota
	switch res {
	case "instances":
		return q.Instances
	case "cores":
		return q.Cores
	case "ram":
		return q.RAM
	case "metadata_items":
		return q.MetadataItems
	case "injected_files":
		return q.InjectedFiles
	case "injected_file_content_bytes":
		return q.InjectedFileContentBytes
	case "injected_file_path_bytes":
		return q.InjectedFilePathLength
	case "key_pairs":
		return q.KeyPairs
	case "server_groups":
		return q.ServerGroups
	case "server_group_members":
		return q.ServerGroupMembers
	}
	return -1
}

// overlay fills every resource from the first map that has it, then the
// configured default.
func (s *Service) overlay(layers ...map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(quotaResources))
	for _, r := range quotaResources {
		out[r] = s.configDefault(r)
		for _, l := range layers {
			if v, ok := l[r]; ok {
				out[r] = v
				break
			}
		}
	}
	return out
}

// defaultLimits are the configured defaults with the default class over
// them.
func (s *Service) defaultLimits(ctx context.Context, q querier) (map[string]int64, error) {
	cls, err := classQuotas(ctx, q, defaultClass)
	if err != nil {
		return nil, err
	}
	return s.overlay(cls), nil
}

// effectiveLimits are a project's limits, or a user's in it when userID
// is set: the user's own, else the project's, else the defaults.
func (s *Service) effectiveLimits(ctx context.Context, q querier, projectID, userID string) (map[string]int64, error) {
	cls, err := classQuotas(ctx, q, defaultClass)
	if err != nil {
		return nil, err
	}
	proj, err := projectQuotas(ctx, q, projectID)
	if err != nil {
		return nil, err
	}
	if userID == "" {
		return s.overlay(proj, cls), nil
	}
	usr, err := userQuotas(ctx, q, projectID, userID)
	if err != nil {
		return nil, err
	}
	return s.overlay(usr, proj, cls), nil
}

// Querier is what a usage counter reads with: the caller's transaction
// (a server create checks quota inside its own, which holds the write
// lock) or the database (a read of limits, which takes no lock).
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// usageCounter reports what a project holds of some quota resources, or
// a user in it when userID is set.
type usageCounter func(ctx context.Context, q Querier, projectID, userID string) (map[string]int64, error)

// AddUsageCounter registers a counter of quota usage (servers count
// instances, cores and ram; server groups theirs). Call it before
// serving.
func (s *Service) AddUsageCounter(c func(ctx context.Context, q Querier, projectID, userID string) (map[string]int64, error)) {
	s.usage = append(s.usage, c)
}

// usages counts every resource; the ones nothing counts are 0.
func (s *Service) usages(ctx context.Context, q querier, projectID, userID string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, c := range s.usage {
		m, err := c(ctx, q, projectID, userID)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			out[k] += v
		}
	}
	return out, nil
}

// QuotaSet returns a project's limits, or a user's in it.
func (s *Service) QuotaSet(ctx context.Context, p *authn.Principal, projectID, userID string) (map[string]int64, error) {
	if err := s.authorize(p, policyQuotaShow, map[string]any{"project_id": projectID}); err != nil {
		return nil, err
	}
	if err := s.checkProject(ctx, projectID); err != nil {
		return nil, err
	}
	return s.effectiveLimits(ctx, s.db, projectID, userID)
}

// QuotaDetail returns limits with what is in use (reserved is always 0
// in Nova since reservations were removed).
func (s *Service) QuotaDetail(ctx context.Context, p *authn.Principal, projectID, userID string) (map[string]QuotaLimit, error) {
	if err := s.authorize(p, policyQuotaDetail, map[string]any{"project_id": projectID}); err != nil {
		return nil, err
	}
	if err := s.checkProject(ctx, projectID); err != nil {
		return nil, err
	}
	limits, err := s.effectiveLimits(ctx, s.db, projectID, userID)
	if err != nil {
		return nil, err
	}
	used, err := s.usages(ctx, s.db, projectID, userID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]QuotaLimit, len(limits))
	for r, l := range limits {
		out[r] = QuotaLimit{Limit: l, InUse: used[r]}
	}
	return out, nil
}

// QuotaDefaults returns the limits a project gets when none are set.
func (s *Service) QuotaDefaults(ctx context.Context, p *authn.Principal, projectID string) (map[string]int64, error) {
	if err := s.authorize(p, policyQuotaDefaults, map[string]any{"project_id": projectID}); err != nil {
		return nil, err
	}
	if err := s.checkProject(ctx, projectID); err != nil {
		return nil, err
	}
	return s.defaultLimits(ctx, s.db)
}

func unlimited(v int64) bool { return v <= -1 }

func addLimits(a, b int64) int64 {
	if unlimited(a) || unlimited(b) {
		return -1
	}
	return a + b
}

func subLimits(a, b int64) int64 {
	if unlimited(a) || unlimited(b) {
		return -1
	}
	return a - b
}

// UpdateQuotaSet sets a project's limits, or a user's in it, and returns
// the limits in force. Unless force is set, a project limit may not go
// below what is in use or given to its users, and a user's may not go
// above what the project has left.
func (s *Service) UpdateQuotaSet(ctx context.Context, p *authn.Principal, projectID, userID string, values map[string]int64,
	force bool) (map[string]int64, error) {
	if err := s.authorize(p, policyQuotaUpdate, map[string]any{"project_id": projectID}); err != nil {
		return nil, err
	}
	if err := s.checkProject(ctx, projectID); err != nil {
		return nil, err
	}
	var out map[string]int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if !force {
			if err := s.checkSettable(ctx, tx, projectID, userID, values); err != nil {
				return err
			}
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var err error
			if userID != "" {
				err = setUserQuota(ctx, tx, projectID, userID, k, values[k])
			} else {
				err = setProjectQuota(ctx, tx, projectID, k, values[k])
			}
			if err != nil {
				return err
			}
		}
		var err error
		out, err = s.effectiveLimits(ctx, tx, projectID, userID)
		return err
	})
	return out, err
}

// checkSettable is Nova's get_settable_quotas and _validate_quota_limit.
func (s *Service) checkSettable(ctx context.Context, q querier, projectID, userID string, values map[string]int64) error {
	projLimits, err := s.effectiveLimits(ctx, q, projectID, "")
	if err != nil {
		return err
	}
	sums, err := userQuotaSums(ctx, q, projectID)
	if err != nil {
		return err
	}
	used, err := s.usages(ctx, q, projectID, userID)
	if err != nil {
		return err
	}
	var own map[string]int64
	if userID != "" {
		if own, err = userQuotas(ctx, q, projectID, userID); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, res := range keys {
		limit := values[res]
		remains := subLimits(projLimits[res], sums[res])
		var minimum, maximum int64
		if userID != "" {
			minimum, maximum = used[res], addLimits(remains, own[res])
		} else {
			minimum, maximum = max(subLimits(projLimits[res], remains), used[res]), -1
		}
		inf := func(v int64) float64 {
			if unlimited(v) {
				return 1e300
			}
			return float64(v)
		}
		if inf(limit) < inf(minimum) {
			return fault.BadRequestf("Quota limit %d for %s must be greater than or equal to already used and reserved %d.",
				limit, res, minimum)
		}
		if inf(limit) > inf(maximum) {
			return fault.BadRequestf("Quota limit %d for %s must be less than or equal to %d.", limit, res, maximum)
		}
	}
	return nil
}

// DeleteQuotaSet reverts a project's limits (and its users'), or one
// user's, to the defaults.
func (s *Service) DeleteQuotaSet(ctx context.Context, p *authn.Principal, projectID, userID string) error {
	if err := s.authorize(p, policyQuotaDelete, map[string]any{"project_id": projectID}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if userID != "" {
			return deleteUserQuotas(ctx, tx, projectID, userID)
		}
		return deleteProjectQuotas(ctx, tx, projectID)
	})
}

// QuotaClass returns a quota class's limits; unset ones are the
// configured defaults.
func (s *Service) QuotaClass(ctx context.Context, p *authn.Principal, class string) (map[string]int64, error) {
	if err := s.authorize(p, policyQuotaClassShow, map[string]any{}); err != nil {
		return nil, err
	}
	cls, err := classQuotas(ctx, s.db, class)
	if err != nil {
		return nil, err
	}
	return s.overlay(cls), nil
}

// UpdateQuotaClass sets limits of a quota class. Only the class named
// "default" is used by Nova (for every project's defaults).
func (s *Service) UpdateQuotaClass(ctx context.Context, p *authn.Principal, class string, values map[string]int64) (map[string]int64, error) {
	if err := s.authorize(p, policyQuotaClassUpdate, map[string]any{}); err != nil {
		return nil, err
	}
	if n := len([]rune(class)); n < 1 || n > 255 {
		return nil, fault.BadRequestf("Invalid input received: quota_class_name has a length outside 1 to 255 characters.")
	}
	var out map[string]int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for k, v := range values {
			if err := setClassQuota(ctx, tx, class, k, v); err != nil {
				return err
			}
		}
		cls, err := classQuotas(ctx, tx, class)
		out = s.overlay(cls)
		return err
	})
	return out, err
}

// Limits are a project's absolute limits and usage, for /limits. A
// caller may ask for another project's (tenant_id) if policy allows.
func (s *Service) Limits(ctx context.Context, p *authn.Principal, tenantID string) (map[string]QuotaLimit, error) {
	if err := s.authorize(p, policyLimits, map[string]any{}); err != nil {
		return nil, err
	}
	projectID := projectOf(p)
	if tenantID != "" {
		projectID = tenantID
		if err := s.authorize(p, policyLimitsOtherProject, nil); err != nil {
			return nil, err
		}
	}
	limits, err := s.effectiveLimits(ctx, s.db, projectID, "")
	if err != nil {
		return nil, err
	}
	used, err := s.usages(ctx, s.db, projectID, "")
	if err != nil {
		return nil, err
	}
	out := make(map[string]QuotaLimit, len(limits))
	for r, l := range limits {
		out[r] = QuotaLimit{Limit: l, InUse: used[r]}
	}
	return out, nil
}

// OverQuotaError says which resources a request would take past their
// limits; the API that checked turns it into its own message.
type OverQuotaError struct {
	Overs     []string         // resources over, sorted
	Requested map[string]int64 // deltas asked for
	Used      map[string]int64 // in use before the request
	Allowed   map[string]int64 // limits
}

func (e *OverQuotaError) Error() string {
	return "Quota exceeded for resources: " + strings.Join(e.Overs, ", ")
}

// CheckQuota refuses deltas that would take a project, or the user in it,
// past a limit, as Nova's check_deltas: the user's limits and usage and
// the project's are both checked. Run it inside the transaction that
// writes what it counts, so concurrent requests cannot both pass.
func (s *Service) CheckQuota(ctx context.Context, tx *sql.Tx, projectID, userID string, deltas map[string]int64) error {
	e := &OverQuotaError{Requested: deltas, Used: map[string]int64{}, Allowed: map[string]int64{}}
	q := s.db.Cached(tx) // every server create runs these
	scopes := []string{""}
	if userID != "" {
		scopes = append(scopes, userID)
	}
	over := map[string]bool{}
	for _, uid := range scopes {
		limits, err := s.effectiveLimits(ctx, q, projectID, uid)
		if err != nil {
			return err
		}
		used, err := s.usages(ctx, q, projectID, uid)
		if err != nil {
			return fmt.Errorf("count usage: %w", err)
		}
		for res, d := range deltas {
			l := limits[res]
			if unlimited(l) || d <= 0 {
				continue
			}
			if used[res]+d > l && !over[res] {
				over[res] = true
				e.Overs = append(e.Overs, res)
				e.Used[res], e.Allowed[res] = used[res], l
			}
		}
	}
	if len(e.Overs) == 0 {
		return nil
	}
	sort.Strings(e.Overs)
	return e
}
