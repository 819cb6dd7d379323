package oidcsessiontest

import (
	"net/http"
	"testing"
)

func TestRefreshOutage(t *testing.T) {
	op := New(t, Config{})
	tok, err := op.IssueTokens(IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	op.SetRefreshOutage(true)
	if !op.RefreshOutage() {
		t.Fatal("RefreshOutage() = false after switching it on")
	}
	for range 3 {
		status, body, hdr := post(t, op, "/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, true)
		wantOAuthError(t, status, body, http.StatusServiceUnavailable, "temporarily_unavailable")
		if hdr.Get("Retry-After") != "5" {
			t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
		}
	}
	if op.Stats().Grants["refresh_token"] != 3 || op.Stats().SuccessfulGrants["refresh_token"] != 0 {
		t.Fatalf("grants %d, successful %d", op.Stats().Grants["refresh_token"], op.Stats().SuccessfulGrants["refresh_token"])
	}
	// No token was touched: the same refresh token works once it is over.
	op.SetRefreshOutage(false)
	status, body := refresh(t, op, tok.RefreshToken, nil)
	if status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("after the outage: %d %v", status, body)
	}
	if op.Stats().ReuseDetections != 0 {
		t.Fatal("the outage spent the refresh token")
	}
}
