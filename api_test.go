package oidcsession_test

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// The resources the tests ask tokens for: identifiers, not locations.
const (
	ordersAPI  = "https://orders.example/"
	billingAPI = "https://billing.example/"
)

// resourceServer is an API the app calls on the user's behalf. Like a
// real one it trusts only what the provider says: every bearer token is
// introspected (RFC 7662), so a token the provider revoked is refused
// with 401 invalid_token. It answers /{any}/echo with what it saw, and
// /{any}/stream in two parts, the second when release is closed.
type resourceServer struct {
	t       *testing.T
	srv     *httptest.Server
	op      *oidcsessiontest.Provider
	release chan struct{}

	mu      sync.Mutex
	refuse  map[string]bool // audiences refused whatever the token
	calls   int
	tokens  []string // the bearer tokens presented, in order
	lastSaw apiSaw
}

// apiSaw is what the API reports about one request.
type apiSaw struct {
	Method, Path, Query, Body string
	Aud                       any
	Scope, Sub                string
	Cookie, CSRF, ClientAuth  bool // the browser's Cookie, X-Session-Refresh, a non-bearer Authorization reached it
	ForwardedHost             string
	TokenN                    int // the index of the token in tokens
}

func newResourceServer(t *testing.T, op *oidcsessiontest.Provider) *resourceServer {
	a := &resourceServer{t: t, op: op, release: make(chan struct{}), refuse: map[string]bool{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *resourceServer) serve(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	claims, ok := a.introspect(token)
	a.mu.Lock()
	a.calls++
	a.tokens = append(a.tokens, token)
	n := len(a.tokens) - 1
	aud, _ := claims["aud"].(string)
	refused := a.refuse[aud]
	a.mu.Unlock()
	if !strings.EqualFold(scheme, "Bearer") || !ok || refused {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Set-Cookie", "api-cookie=1; Path=/")
	w.Header().Set("X-Api", "yes")
	if strings.HasSuffix(r.URL.Path, "/stream") {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-a.release
		fmt.Fprint(w, "data: two\n\n")
		return
	}
	body, _ := io.ReadAll(r.Body)
	saw := apiSaw{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body),
		Aud: claims["aud"], Scope: fmt.Sprint(claims["scope"]), Sub: fmt.Sprint(claims["sub"]),
		Cookie: r.Header.Get("Cookie") != "", CSRF: r.Header.Get("X-Session-Refresh") != "",
		ForwardedHost: r.Header.Get("X-Forwarded-Host"), TokenN: n,
	}
	a.mu.Lock()
	a.lastSaw = saw
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(saw)
}

// introspect asks the provider whether token is live.
func (a *resourceServer) introspect(token string) (map[string]any, bool) {
	if token == "" {
		return nil, false
	}
	req, _ := http.NewRequest(http.MethodPost, a.op.Issuer()+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.op.ClientID(), a.op.ClientSecret())
	resp, err := a.op.Client().Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var claims map[string]any
	if json.NewDecoder(resp.Body).Decode(&claims) != nil || claims["active"] != true {
		return nil, false
	}
	return claims, true
}

// revokeLast revokes, at the provider, the last token the API saw.
func (a *resourceServer) revokeLast() {
	a.t.Helper()
	a.mu.Lock()
	token := a.tokens[len(a.tokens)-1]
	a.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, a.op.Issuer()+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.op.ClientID(), a.op.ClientSecret())
	resp, err := a.op.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		a.t.Fatalf("revoking: %v %v", err, resp)
	}
	resp.Body.Close()
}

func (a *resourceServer) refuseAudience(aud string) {
	a.mu.Lock()
	a.refuse[aud] = true
	a.mu.Unlock()
}

// stats returns how many calls the API had and the distinct tokens it saw.
func (a *resourceServer) stats() (calls int, tokens []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls, append([]string(nil), a.tokens...)
}

// tokenReport is what /test/token answers.
type tokenReport struct {
	Token   string                  `json:"token"`   // sha256 prefix of the token handed out
	Claims  map[string]any          `json:"claims"`  // its JWT claims
	Primary string                  `json:"primary"` // sha256 prefix of the session's own token afterwards
	Tokens  []oidcsession.TokenInfo `json:"tokens"`
}

// callReport is what /test/call answers: per call, the API's status and
// what it saw.
type callReport struct {
	Status []int    `json:"status"`
	Saw    []apiSaw `json:"saw"`
	Errors []string `json:"errors"` // a call's error, when its status is -1
}

func tokenRequest(q url.Values) oidcsession.TokenRequest {
	return oidcsession.TokenRequest{Resource: q.Get("resource"), Scopes: strings.Fields(q.Get("scope"))}
}

// apiRoutes are the routes that call the API:
//
//	GET /test/token?resource=&scope=   Token, behind Require
//	GET /test/call?resource=&scope=&n=&method=&body=   n concurrent calls
//	    through one Client, behind Require
//	/proxy/orders/ → API /orders/ with the orders token; /proxy/own/ → API
//	/own/ with the session's own; /proxy/down/ → nowhere; all behind
//	Require(TryRefresh()).
func (h *harness) apiRoutes(mux *http.ServeMux) {
	mux.Handle("GET /test/token", h.m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := h.m.Token(w, r, tokenRequest(r.URL.Query()))
		if err != nil {
			h.m.WriteError(w, r, err)
			return
		}
		s, _ := oidcsession.FromContext(r.Context())
		_ = jsonEncode(w, tokenReport{Token: short(tok.AccessToken), Claims: claimsOf(tok.AccessToken), Primary: short(s.AccessToken()), Tokens: s.Tokens()})
	})))
	mux.Handle("GET /test/call", h.m.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, _ := strconv.Atoi(q.Get("n"))
		client := h.m.Client(w, r, tokenRequest(q))
		rep := callReport{Status: make([]int, max(n, 1)), Saw: make([]apiSaw, max(n, 1)), Errors: make([]string, max(n, 1))}
		var wg sync.WaitGroup
		for i := range rep.Status {
			wg.Go(func() {
				method := cmp.Or(q.Get("method"), http.MethodGet)
				req, _ := http.NewRequestWithContext(r.Context(), method, h.api.srv.URL+"/orders/echo", strings.NewReader(q.Get("body")))
				resp, err := client.Do(req)
				if err != nil {
					rep.Status[i], rep.Errors[i] = -1, err.Error()
					return
				}
				defer resp.Body.Close()
				rep.Status[i] = resp.StatusCode
				_ = json.NewDecoder(resp.Body).Decode(&rep.Saw[i])
			})
		}
		wg.Wait()
		_ = jsonEncode(w, rep)
	})))
	proxy := func(prefix, upstream string, req oidcsession.TokenRequest) {
		u, _ := url.Parse(upstream)
		mux.Handle(prefix+"/", h.m.Require(oidcsession.TryRefresh())(http.StripPrefix(prefix, h.m.Proxy(u, req))))
	}
	proxy("/proxy/orders", h.api.srv.URL+"/orders", oidcsession.TokenRequest{Resource: ordersAPI})
	proxy("/proxy/own", h.api.srv.URL+"/own", oidcsession.TokenRequest{})
	proxy("/proxy/down", "http://127.0.0.1:1/", oidcsession.TokenRequest{Resource: ordersAPI})
}

// short names a token by a prefix of its SHA-256.
func short(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// claimsOf decodes a JWT's claims without checking it (the API checks).
func claimsOf(jwt string) map[string]any {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	return c
}
