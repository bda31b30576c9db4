package image

import "github.com/nimbus-cloud/nimbus/internal/httpx"

// importRoutes registers interoperable import (being written: until then
// these paths answer 404).
func (h *handlers) importRoutes(rt *httpx.Router) {}
