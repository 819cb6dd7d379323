package oidcsession

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession/oidcsessiontest"
)

// mountRefetch adds /refetch behind Require and /refetch-bare outside it,
// both calling RefetchUserInfo and reporting the error kind.
func (a *loginApp) mountRefetch() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := a.m.RefetchUserInfo(w, r)
		switch {
		case errors.Is(err, ErrUserInfoMismatch):
			writeJSON(w, http.StatusBadGateway, errorBody{Error: "mismatch"})
		case errors.Is(err, ErrProviderUnavailable):
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "unavailable"})
		case err != nil:
			a.m.WriteError(w, r, err)
		default:
			var claims map[string]any
			ok, err := s.UserInfo(&claims)
			if !ok || err != nil {
				writeJSON(w, http.StatusInternalServerError, errorBody{Error: "no claims"})
				return
			}
			writeJSON(w, http.StatusOK, claims)
		}
	})
	a.mux.Handle("/refetch", a.m.Require(TryRefresh())(h))
	a.mux.Handle("/refetch-bare", h)
}

func TestRefetchUserInfo(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{})
	a.mountRefetch()
	b := newBrowser(t)
	a.signIn(b)
	if got := a.op.UserinfoCalls(); got != 0 {
		t.Fatalf("userinfo calls before refetch = %d", got)
	}
	for _, path := range []string{"/refetch", "/refetch-bare"} {
		t.Run(path, func(t *testing.T) {
			r := send(t, b.Client, http.MethodGet, a.srv.URL+path, "application/json", nil)
			if r.status != http.StatusOK || r.json(t)["email"] != "user@example.test" || r.json(t)["sub"] != "user-1" {
				t.Fatalf("refetch: %d %s", r.status, r.body)
			}
			// The claims were saved in the session.
			r = send(t, b.Client, http.MethodGet, a.srv.URL+"/api/me", "application/json", nil)
			ui, _ := r.json(t)["userinfo"].(map[string]any)
			if ui["name"] != "Test User" {
				t.Fatalf("/api/me: %s", r.body)
			}
		})
	}
	if got := a.op.UserinfoCalls(); got != 2 {
		t.Fatalf("userinfo calls = %d, want 2", got)
	}
	t.Run("no session", func(t *testing.T) {
		r := send(t, http.DefaultClient, http.MethodGet, a.srv.URL+"/refetch-bare", "application/json", nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestRefetchUserInfoSubjectMismatch(t *testing.T) {
	// The ID token says "other", userinfo answers for "user-1".
	a := newLoginApp(t, oidcsessiontest.Config{IDTokenClaims: map[string]any{"sub": "other"}})
	a.mountRefetch()
	b := newBrowser(t)
	b.page(t, a.srv.URL+"/auth/login")
	r := send(t, b.Client, http.MethodGet, a.srv.URL+"/refetch", "application/json", nil)
	if r.status != http.StatusBadGateway || r.json(t)["error"] != "mismatch" {
		t.Fatalf("refetch: %d %s", r.status, r.body)
	}
	if ok, _ := a.sessionOf(b).UserInfo(new(map[string]any)); ok {
		t.Fatal("mismatched claims were stored")
	}
}

func TestRefetchUserInfoProviderDown(t *testing.T) {
	a := newLoginApp(t, oidcsessiontest.Config{}, WithHTTPClient(&http.Client{Transport: failPath("/userinfo")}))
	a.mountRefetch()
	b := newBrowser(t)
	a.signIn(b)
	r := send(t, b.Client, http.MethodGet, a.srv.URL+"/refetch", "application/json", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("refetch: %d %s", r.status, r.body)
	}
}

func TestUserInfoOnRefresh(t *testing.T) {
	t.Run("fetched at sign-in and after each refresh", func(t *testing.T) {
		a := newLoginApp(t, oidcsessiontest.Config{}, WithUserInfoOnRefresh())
		b := newBrowser(t)
		a.signIn(b)
		if got := a.op.UserinfoCalls(); got != 1 {
			t.Fatalf("userinfo calls after sign-in = %d, want 1", got)
		}
		r := send(t, b.Client, http.MethodGet, a.srv.URL+"/api/me", "application/json", nil)
		if ui, _ := r.json(t)["userinfo"].(map[string]any); ui["email"] != "user@example.test" {
			t.Fatalf("/api/me: %s", r.body)
		}
		a.clock.Advance(6 * time.Minute)
		if r := b.page(t, a.srv.URL+"/app"); r.status != http.StatusOK {
			t.Fatalf("after expiry: %d", r.status)
		}
		if g, u := a.op.Grants("refresh_token"), a.op.UserinfoCalls(); g != 1 || u != 2 {
			t.Fatalf("grants %d, userinfo calls %d; want 1, 2", g, u)
		}
	})
	t.Run("failure keeps the refresh and the old claims", func(t *testing.T) {
		logs := &syncBuffer{}
		a := newLoginApp(t, oidcsessiontest.Config{}, WithUserInfoOnRefresh(), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
		b := newBrowser(t)
		a.signIn(b)
		before := a.sessionOf(b)
		// Break userinfo for the refresh only.
		a.m.cfg.httpClient = &http.Client{Transport: failPath("/userinfo")}
		a.clock.Advance(6 * time.Minute)
		if r := b.page(t, a.srv.URL+"/app"); r.status != http.StatusOK {
			t.Fatalf("refresh failed over userinfo: %d %s", r.status, r.body)
		}
		after := a.sessionOf(b)
		if after.refreshToken == before.refreshToken || string(after.userInfo) != string(before.userInfo) || len(after.userInfo) == 0 {
			t.Fatalf("refresh token rotated %v, claims %s -> %s", after.refreshToken != before.refreshToken, before.userInfo, after.userInfo)
		}
		if !strings.Contains(logs.String(), "userinfo fetch failed") || strings.Contains(logs.String(), after.AccessToken()) {
			t.Fatalf("log: %s", logs)
		}
	})
}
