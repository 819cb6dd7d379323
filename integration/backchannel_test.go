package integration

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// logoutReceiver stands in for an app's back-channel logout endpoint
// (OpenID Connect Back-Channel Logout 1.0). oidcsession has none: its
// sessions live in sealed cookies, which a server-to-server call cannot
// reach. The receiver shows what oidc-provider sends when a session ends,
// which an app that keeps server-side state could act on.
type logoutReceiver struct {
	url string
	srv *http.Server

	mu   sync.Mutex
	subs map[string]int // logout tokens received, by the token's sub
}

func startLogoutReceiver() (*logoutReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &logoutReceiver{url: "http://" + ln.Addr().String() + "/backchannel-logout", subs: map[string]int{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// serve records the logout token's sub. The token's signature is the
// provider's business here; the receiver only reads it.
func (r *logoutReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	claims, ok := jwtPart(req.PostFormValue("logout_token"), 1)
	events, _ := claims["events"].(map[string]any)
	sub, _ := claims["sub"].(string)
	if !ok || events["http://schemas.openid.net/event/backchannel-logout"] == nil || sub == "" {
		http.Error(w, "not a logout token", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.subs[sub]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// received returns how many logout tokens named sub.
func (r *logoutReceiver) received(sub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subs[sub]
}

func (r *logoutReceiver) close() { _ = r.srv.Close() }
