package main

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// outageSwitch is POST /demo/outage, mounted only with the embedded
// provider: on=true makes the provider answer every refresh with 503 until
// on=false, so the page can show what a provider outage looks like. Go's
// cross-origin protection keeps other sites from flipping it.
func outageSwitch(op *oidcsessiontest.Provider) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.PostFormValue("on"))
		if err != nil {
			http.Error(w, "on must be true or false", http.StatusBadRequest)
			return
		}
		op.SetRefreshOutage(on)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]bool{"outage": op.RefreshOutage()})
	})
	return http.NewCrossOriginProtection().Handler(h)
}
