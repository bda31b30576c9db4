package placement

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func (h *handlers) reshape(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.authorize(principal(r), reshape, nil); err != nil {
		return err
	}
	return fault.New(fault.NotImplemented, "The reshaper is not implemented yet.")
}
