package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer collects the app's output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestExample starts the example with its embedded provider on a free
// port and walks it like a browser: sign in, the app page, the API, sign
// out.
func TestExample(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{"ADDR": "127.0.0.1:0"}
	out := &lockedBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, out, func(addr string) { ready <- addr })
	}()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, out)
	case <-time.After(10 * time.Second):
		t.Fatalf("the app did not start\n%s", out)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path, accept string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const page = "text/html,*/*;q=0.8"

	if status, body := get("/", page); status != http.StatusOK || !strings.Contains(body, "Sign in") {
		t.Fatalf("home: %d\n%s", status, body)
	}
	// A protected page sends the browser through the provider and back.
	if status, body := get("/app", page); status != http.StatusOK || !strings.Contains(body, "Signed in as <code>user-1</code>") {
		t.Fatalf("/app: %d\n%s", status, body)
	}
	status, body := get("/api/me", "application/json")
	var me struct {
		Sub       string         `json:"sub"`
		ExpiresAt string         `json:"expires_at"`
		Claims    map[string]any `json:"claims"`
		UserInfo  map[string]any `json:"userinfo"`
	}
	if err := json.Unmarshal([]byte(body), &me); status != http.StatusOK || err != nil || me.Sub != "user-1" || me.ExpiresAt == "" || me.UserInfo["email"] == nil {
		t.Fatalf("/api/me: %d %s", status, body)
	}
	if status, body := get("/", page); status != http.StatusOK || !strings.Contains(body, "Welcome, Test User") {
		t.Fatalf("home when signed in: %d\n%s", status, body)
	}

	// Sign out as the page's script does.
	req, _ := http.NewRequest(http.MethodPost, base+"/auth/logout", nil)
	req.Header.Set("X-Session-Refresh", "1")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var lo struct {
		RedirectTo string `json:"redirect_to"`
	}
	err = json.NewDecoder(resp.Body).Decode(&lo)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || !strings.Contains(lo.RedirectTo, "/end_session?") {
		t.Fatalf("logout: %d %+v %v", resp.StatusCode, lo, err)
	}
	resp, err = c.Get(lo.RedirectTo)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.String() != base+"/" || !strings.Contains(string(b), "Sign in") {
		t.Fatalf("after logout: %s\n%s", resp.Request.URL, b)
	}
	if status, body := get("/api/me", "application/json"); status != http.StatusUnauthorized {
		t.Fatalf("/api/me after logout: %d %s", status, body)
	}

	for _, want := range []string{"embedded test provider", "random keys", "plain http", "open " + base + "/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v", err)
	}
}

func TestSessionKeys(t *testing.T) {
	hex32 := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		name, in string
		want     int
		wantErr  bool
	}{
		{"empty", "", 0, false},
		{"hex pair", hex32 + ":" + hex32, 2, false},
		{"two pairs, base64", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=:MDEyMzQ1Njc4OWFiY2RlZg==, " + hex32 + ":" + hex32, 4, false},
		{"no colon", hex32, 0, true},
		{"not a key", "???:" + hex32, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := sessionKeys(tt.in)
			if (err != nil) != tt.wantErr || len(keys) != tt.want {
				t.Fatalf("sessionKeys(%q) = %d keys, %v", tt.in, len(keys), err)
			}
			if err != nil && strings.Contains(err.Error(), "???") {
				t.Fatalf("error repeats the key: %v", err)
			}
		})
	}
}
