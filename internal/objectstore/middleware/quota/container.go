package quota

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// NewContainer enforces container quotas: it checks the quota values a
// container PUT or POST sets, and object PUTs against them.
func NewContainer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := swift.ParsePath(r.URL.Path)
		if err != nil || p.Container == "" {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case p.Object == "" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
			if v := r.Header.Get("X-Container-Meta-Quota-Bytes"); v != "" && !isDigits(v) {
				swift.WriteError(w, r, http.StatusBadRequest, "Invalid bytes quota.")
				return
			}
			if v := r.Header.Get("X-Container-Meta-Quota-Count"); v != "" && !isDigits(v) {
				swift.WriteError(w, r, http.StatusBadRequest, "Invalid count quota.")
				return
			}
		case p.Object != "" && r.Method == http.MethodPut:
			if overContainerQuota(next, r, p) {
				exceeded(next, w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func overContainerQuota(next http.Handler, r *http.Request, p swift.Path) bool {
	path := "/v1/" + p.Account + "/" + p.Container
	status, h := headInfo(next, r, path)
	if status/100 != 2 {
		return false // the core answers for a missing container
	}
	if h.Get("X-Container-Meta-Quota-Bytes") == "" && h.Get("X-Container-Meta-Quota-Count") == "" {
		return false
	}
	if status, h = freshInfo(next, r, path); status/100 != 2 {
		return false
	}
	if q := h.Get("X-Container-Meta-Quota-Bytes"); isDigits(q) && h.Get("X-Container-Bytes-Used") != "" {
		if overBytes(q, headerInt(h, "X-Container-Bytes-Used"), uploadSize(next, r, p.Account)) {
			return true
		}
	}
	if q := h.Get("X-Container-Meta-Quota-Count"); isDigits(q) && h.Get("X-Container-Object-Count") != "" {
		if overCount(q, headerInt(h, "X-Container-Object-Count")) {
			return true
		}
	}
	return false
}

// overBytes reports whether adding size bytes to used passes quota (a
// string of digits).
func overBytes(quota string, used, size int64) bool {
	q, err := parseQuota(quota)
	return err == nil && q < used+size
}

// overCount reports whether one more object passes quota.
func overCount(quota string, count int64) bool {
	q, err := parseQuota(quota)
	return err == nil && q < count+1
}
