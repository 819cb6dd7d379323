package oidcsessiontest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestFailNextRefreshes(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		code     string
		wantJSON bool
	}{
		{"json 503", http.StatusServiceUnavailable, "temporarily_unavailable", true},
		{"json 400", http.StatusBadRequest, "invalid_grant", true},
		{"plain 502", http.StatusBadGateway, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRP(t, Config{})
			// AuthStyleAutoDetect would retry a failed request with the
			// other style and so consume two faults per call.
			r.conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			tok, _ := r.op.IssueTokens(IssueOptions{})
			r.op.FailNextRefreshes(2, tt.status, tt.code)
			for range 2 {
				_, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.Response.StatusCode != tt.status || re.ErrorCode != tt.code {
					t.Fatalf("error %v", err)
				}
				if ct := re.Response.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") != tt.wantJSON {
					t.Errorf("content type %q", ct)
				}
			}
			// Faults do not touch tokens: the same refresh token still works.
			if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
				t.Fatal(err)
			}
			if g, s := r.op.Stats().Grants["refresh_token"], r.op.Stats().SuccessfulGrants["refresh_token"]; g != 3 || s != 1 {
				t.Errorf("grants %d successes %d", g, s)
			}
		})
	}
}

func TestDropNextRefreshes(t *testing.T) {
	op := New(t, Config{})
	tok, _ := op.IssueTokens(IssueOptions{})
	op.DropNextRefreshes(1)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	req, _ := http.NewRequest(http.MethodPost, op.Issuer()+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("client", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got a response %d, want a network error", resp.StatusCode)
	}
	if status, body := refresh(t, op, tok.RefreshToken, nil); status != http.StatusOK {
		t.Fatalf("after drop: %d %v", status, body)
	}
	if op.Stats().Grants["refresh_token"] != 2 || op.Stats().SuccessfulGrants["refresh_token"] != 1 {
		t.Errorf("grants %d", op.Stats().Grants["refresh_token"])
	}
}

// abandonRefresh sends a refresh_token grant and gives up waiting for it
// after 50 ms.
func abandonRefresh(t *testing.T, op *Provider, refreshToken string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, op.Issuer()+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("client", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("want a timeout")
	}
}

func TestDelayNextRefreshes(t *testing.T) {
	t.Run("completes", func(t *testing.T) {
		op := New(t, Config{})
		tok, _ := op.IssueTokens(IssueOptions{})
		op.DelayNextRefreshes(1, 100*time.Millisecond)
		start := time.Now()
		if status, _ := refresh(t, op, tok.RefreshToken, nil); status != http.StatusOK {
			t.Fatal(status)
		}
		if time.Since(start) < 100*time.Millisecond {
			t.Error("no delay")
		}
	})
	t.Run("client gives up", func(t *testing.T) {
		op := New(t, Config{})
		tok, _ := op.IssueTokens(IssueOptions{})
		op.DelayNextRefreshes(1, 2*time.Second)
		abandonRefresh(t, op, tok.RefreshToken)
		// The server stopped without rotating: the old token still works.
		status, body := refresh(t, op, tok.RefreshToken, nil)
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
		if op.Stats().ReuseDetections != 0 {
			t.Error("reuse detected")
		}
	})
	t.Run("client gives up, CompleteAbandonedRefreshes", func(t *testing.T) {
		op := New(t, Config{CompleteAbandonedRefreshes: true})
		tok, _ := op.IssueTokens(IssueOptions{})
		op.DelayNextRefreshes(1, 300*time.Millisecond)
		abandonRefresh(t, op, tok.RefreshToken)
		deadline := time.Now().Add(5 * time.Second)
		for op.Stats().SuccessfulGrants["refresh_token"] != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the abandoned grant was not carried out")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The token was spent for nobody: presenting it again is reuse.
		if status, _ := refresh(t, op, tok.RefreshToken, nil); status != http.StatusBadRequest || op.Stats().ReuseDetections != 1 {
			t.Fatalf("the spent token again: %d, %d reuse detections", status, op.Stats().ReuseDetections)
		}
	})
}

func TestOverrideNextRefreshIDTokenClaims(t *testing.T) {
	r := newRP(t, Config{})
	tok, _ := r.op.IssueTokens(IssueOptions{})
	r.op.OverrideNextRefreshIDTokenClaims(map[string]any{"sub": "someone-else"})
	status, body := refresh(t, r.op, tok.RefreshToken, nil)
	if status != http.StatusOK {
		t.Fatal(status)
	}
	id, err := r.verifier.Verify(r.ctx, body["id_token"].(string))
	if err != nil || id.Subject != "someone-else" {
		t.Fatalf("%v %v", id, err)
	}
	// One-shot: the next refresh is normal again.
	_, body = refresh(t, r.op, body["refresh_token"].(string), nil)
	if id, _ := r.verifier.Verify(r.ctx, body["id_token"].(string)); id == nil || id.Subject != "user-1" {
		t.Fatalf("override persisted: %v", id)
	}
}

func TestCloseWithDelayedRefresh(t *testing.T) {
	op, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := op.IssueTokens(IssueOptions{})
	op.DelayNextRefreshes(1, time.Minute)
	done := make(chan struct{})
	go func() {
		defer close(done)
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		resp, err := http.PostForm(op.Issuer()+"/token", form)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	for op.Stats().Grants["refresh_token"] == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	op.Close()
	<-done
	if time.Since(start) > 5*time.Second {
		t.Fatal("Close waited for the delayed refresh")
	}
}
