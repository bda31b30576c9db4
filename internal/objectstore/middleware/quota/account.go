package quota

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// AccountOptions configure account quotas.
type AccountOptions struct {
	// ResellerAdminRole is the role that may set account quotas and is
	// bound by none (keystoneauth's reseller_admin_role). Empty means
	// "ResellerAdmin".
	ResellerAdminRole string
}

// quotaKinds are the account quotas: bytes and objects. Each is set with
// X-Account-<Kind> (bytes also with the older X-Account-Meta-Quota-Bytes)
// and kept as X-Account-Sysmeta-<Kind>, which users cannot write.
var quotaKinds = []string{"Quota-Bytes", "Quota-Count"}

// NewAccount enforces account quotas. Only the reseller admin may set or
// remove them; everybody may see them. At most one AccountOptions may be
// given.
func NewAccount(next http.Handler, opts ...AccountOptions) http.Handler {
	role := "ResellerAdmin"
	if len(opts) > 0 && opts[0].ResellerAdminRole != "" {
		role = opts[0].ResellerAdminRole
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := swift.ParsePath(r.URL.Path)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		reseller := authn.From(r.Context()).HasRole(role)
		if p.Container == "" {
			if r.Method == http.MethodPost || r.Method == http.MethodPut {
				if status := translateQuotas(r.Header, reseller); status != 0 {
					swift.WriteStatus(w, r, status)
					return
				}
			}
			next.ServeHTTP(&showQuotas{ResponseWriter: w}, r)
			return
		}
		if p.Object == "" || r.Method != http.MethodPut || reseller {
			next.ServeHTTP(w, r)
			return
		}
		if overAccountQuota(next, r, p) {
			exceeded(next, w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// translateQuotas turns the quota headers of an account POST or PUT into
// sysmeta, for the reseller; anyone else who tries is refused with 403,
// and a value that is not a number with 400. 0 means go on.
func translateQuotas(h http.Header, reseller bool) int {
	// The older metadata form still works.
	for legacy, newer := range map[string]string{
		"X-Account-Meta-Quota-Bytes":        "X-Account-Quota-Bytes",
		"X-Remove-Account-Meta-Quota-Bytes": "X-Remove-Account-Quota-Bytes",
	} {
		if vs, ok := h[legacy]; ok && h.Get(newer) == "" {
			h.Set(newer, vs[0])
		}
	}
	wanted := map[string]*string{}
	for _, kind := range quotaKinds {
		var v *string
		if vs, ok := h["X-Account-"+kind]; ok {
			v = &vs[0]
		}
		if h.Get("X-Remove-Account-"+kind) != "" {
			empty := ""
			v = &empty // removal wins over setting
		}
		wanted[kind] = v
	}
	for _, v := range wanted {
		if v == nil {
			continue
		}
		if !reseller {
			return http.StatusForbidden
		}
		if *v != "" && !isDigits(*v) {
			return http.StatusBadRequest
		}
	}
	for kind, v := range wanted {
		if v != nil {
			h.Set("X-Account-Sysmeta-"+kind, *v)
		}
	}
	return 0
}

func overAccountQuota(next http.Handler, r *http.Request, p swift.Path) bool {
	path := "/v1/" + p.Account
	status, h := headInfo(next, r, path)
	if status/100 != 2 {
		return false
	}
	if h.Get("X-Account-Meta-Quota-Bytes") == "" && h.Get("X-Account-Sysmeta-Quota-Bytes") == "" &&
		h.Get("X-Account-Sysmeta-Quota-Count") == "" {
		return false
	}
	if status, h = freshInfo(next, r, path); status/100 != 2 {
		return false
	}
	bytesQuota := h.Get("X-Account-Meta-Quota-Bytes")
	if _, ok := h["X-Account-Sysmeta-Quota-Bytes"]; ok {
		bytesQuota = h.Get("X-Account-Sysmeta-Quota-Bytes")
	}
	if q, err := parseQuota(bytesQuota); err == nil && q >= 0 {
		if q < headerInt(h, "X-Account-Bytes-Used")+uploadSize(next, r, p.Account) {
			return true
		}
	}
	if q, err := parseQuota(h.Get("X-Account-Sysmeta-Quota-Count")); err == nil && q >= 0 {
		if q < headerInt(h, "X-Account-Object-Count")+1 {
			return true
		}
	}
	return false
}

// parseQuota reads a quota as Python's int(): surrounding blanks and a
// sign are allowed; a negative quota is no quota.
func parseQuota(s string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
}

// showQuotas shows the account's quotas to whoever may see the account,
// under their public names.
type showQuotas struct {
	http.ResponseWriter
	wrote bool
}

func (w *showQuotas) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		h := w.ResponseWriter.Header()
		for _, kind := range quotaKinds {
			if v := h.Get("X-Account-Sysmeta-" + kind); v != "" {
				h.Set("X-Account-"+kind, v)
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *showQuotas) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *showQuotas) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *showQuotas) Unwrap() http.ResponseWriter { return w.ResponseWriter }
