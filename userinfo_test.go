package oidcsession_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// mountRefetch adds /refetch behind Require and /refetch-bare outside it,
// both calling RefetchUserInfo and reporting the error kind.
func (h *harness) mountRefetch(mux *http.ServeMux) {
	handle := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.m.RefetchUserInfo(w, r)
		switch {
		case errors.Is(err, oidcsession.ErrUserInfoMismatch):
			http.Error(w, "mismatch", http.StatusBadGateway)
		case errors.Is(err, oidcsession.ErrProviderUnavailable):
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		case err != nil:
			h.m.WriteError(w, r, err)
		default:
			w.Header().Set("Content-Type", "application/json")
			_ = jsonEncode(w, report(s))
		}
	})
	mux.Handle("/refetch", h.m.Require(oidcsession.TryRefresh())(handle))
	mux.Handle("/refetch-bare", handle)
}

// refetchHarness is a harness with the refetch routes on its own server.
func refetchHarness(t *testing.T, su setup) (*harness, func(path string, hdr http.Header) response) {
	h := newHarness(t, su)
	mux := http.NewServeMux()
	h.mountRefetch(mux)
	old := h.app.Config.Handler
	mux.Handle("/", old)
	h.app.Config.Handler = mux
	return h, h.b.get
}

func TestRefetchUserInfo(t *testing.T) {
	h, get := refetchHarness(t, setup{})
	h.b.signIn()
	if got := h.stats().UserInfo; got != 0 {
		t.Fatalf("userinfo calls before refetch = %d", got)
	}
	for _, path := range []string{"/refetch", "/refetch-bare"} {
		r := get(path, nil)
		if r.status != 200 || r.who(t).UserInfo["email"] != "user@example.test" {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		if ui := h.b.me().UserInfo; ui["name"] != "Test User" {
			t.Fatalf("%s: claims not saved: %v", path, ui)
		}
	}
	if got := h.stats().UserInfo; got != 2 {
		t.Fatalf("userinfo calls = %d, want 2", got)
	}
	if r := get("/refetch-bare", withCookie("none=1")); r.status != 401 {
		t.Fatalf("no session: %d %s", r.status, r.body)
	}
}

func TestRefetchUserInfoSubjectMismatch(t *testing.T) {
	// The ID token says "other", userinfo answers for "user-1".
	h, get := refetchHarness(t, setup{op: oidcsessiontest.Config{IDTokenClaims: map[string]any{"sub": "other"}}})
	h.b.startSession()
	if r := get("/refetch", nil); r.status != http.StatusBadGateway || !strings.Contains(r.body, "mismatch") {
		t.Fatalf("refetch: %d %s", r.status, r.body)
	}
	if ui := h.b.me().UserInfo; ui != nil {
		t.Fatal("mismatched claims were stored")
	}
}

// failUserInfo fails requests to /userinfo while on.
type failUserInfo struct{ on atomic.Bool }

func (f *failUserInfo) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.on.Load() && req.URL.Path == "/userinfo" {
		return nil, errors.New("injected network failure")
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestRefetchUserInfoProviderDown(t *testing.T) {
	tr := &failUserInfo{}
	tr.on.Store(true)
	h, get := refetchHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithHTTPClient(&http.Client{Transport: tr})}})
	h.b.signIn()
	if r := get("/refetch", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("refetch: %d %s", r.status, r.body)
	}
}

func TestUserInfoOnRefresh(t *testing.T) {
	t.Run("fetched at sign-in and after each refresh", func(t *testing.T) {
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithUserInfoOnRefresh()}})
		h.b.signIn()
		if got := h.stats().UserInfo; got != 1 || h.b.me().UserInfo["email"] != "user@example.test" {
			t.Fatalf("userinfo calls after sign-in = %d", got)
		}
		h.clock.Advance(6 * time.Minute)
		h.b.me()
		if s := h.stats(); s.Grants["refresh_token"] != 1 || s.UserInfo != 2 {
			t.Fatalf("grants %d, userinfo calls %d; want 1, 2", s.Grants["refresh_token"], s.UserInfo)
		}
	})
	t.Run("failure keeps the refresh and the old claims", func(t *testing.T) {
		logs := &logRecords{}
		tr := &failUserInfo{}
		h := newHarness(t, setup{opts: []oidcsession.Option{oidcsession.WithUserInfoOnRefresh(), oidcsession.WithLogger(slog.New(logs)), oidcsession.WithHTTPClient(&http.Client{Transport: tr})}})
		h.b.signIn()
		before := h.b.me()
		tr.on.Store(true) // break userinfo for the refresh only
		h.clock.Advance(6 * time.Minute)
		after := h.b.me()
		if after.AccessToken == before.AccessToken || !after.HasRefreshToken || after.UserInfo["email"] != before.UserInfo["email"] || before.UserInfo == nil {
			t.Fatalf("refresh failed over userinfo, or the claims changed: %v -> %v", before.UserInfo, after.UserInfo)
		}
		if _, ok := logs.find(slog.LevelWarn, "userinfo fetch failed"); !ok {
			t.Fatalf("log: %s", logs.text())
		}
	})
}
