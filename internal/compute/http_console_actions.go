package compute

import (
	"encoding/json"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// legacyConsoleAction is one of the console actions of 2.1-2.5
// (os-getVNCConsole, os-getSerialConsole, os-getSPICEConsole,
// os-getRDPConsole), which 2.6's remote-consoles replaced: the body's
// "type" checked against the action's schema, then the same console as
// remote-consoles gives.
func (h *handlers) legacyConsoleAction(name, protocol string, types []string) serverActionHandler {
	return func(w http.ResponseWriter, r *http.Request, id string, arg json.RawMessage) error {
		if mv(r).AtLeast(6) {
			return fault.NotFoundf("The resource could not be found.")
		}
		o, err := actionObject(name, arg, false, []string{"type"}, "type")
		if err != nil {
			return err
		}
		typ, err := enumField(name+"/type", o["type"], types)
		if err != nil {
			return err
		}
		inst, err := h.svc.instance(r.Context(), principal(r), id)
		if err != nil {
			return err
		}
		return h.remoteConsole(w, r, inst, protocol, typ)
	}
}
