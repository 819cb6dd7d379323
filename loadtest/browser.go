package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// browser is one user's browser: the session's cookies, kept from every
// Set-Cookie it is sent, and, for try-refresh, the browser helper's one
// refresh at a time (js/oidcsession.js: every call that gets try_refresh
// waits for the same POST, then retries once).
//
// The load client sends the Cookie header itself rather than through a
// cookiejar, since a jar would not send the default Secure, __Host-
// cookies over plain-http loopback.
type browser struct {
	mu      sync.Mutex
	cookies map[string]string
	header  string // the Cookie header value
	gen     uint64 // bumped whenever the cookies change

	refreshing chan struct{} // closed when the refresh in flight ends
	refreshErr error         // its outcome
	posts      int           // refresh POSTs sent
}

// state returns the Cookie header to send and its generation.
func (b *browser) state() (string, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.header, b.gen
}

// apply stores cookies as a browser does: Max-Age<0 deletes.
func (b *browser) apply(cookies []*http.Cookie) {
	if len(cookies) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cookies == nil {
		b.cookies = map[string]string{}
	}
	changed := false
	for _, c := range cookies {
		old, had := b.cookies[c.Name]
		switch {
		case c.MaxAge < 0:
			if had {
				delete(b.cookies, c.Name)
				changed = true
			}
		case !had || old != c.Value:
			b.cookies[c.Name] = c.Value
			changed = true
		}
	}
	if !changed {
		return
	}
	names := make([]string, 0, len(b.cookies))
	for n := range b.cookies {
		names = append(names, n)
	}
	slices.Sort(names)
	var sb strings.Builder
	for i, n := range names {
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(n + "=" + b.cookies[n])
	}
	b.header = sb.String()
	b.gen++
}

// answer is what the load client keeps of a response.
type answer struct {
	status  int
	err     string // the JSON "error" of a 4xx/5xx
	cookies []*http.Cookie
}

// send makes one request with the browser's cookies and keeps its
// Set-Cookie. The body is read to the end so the connection is reused.
func (a *app) send(b *browser, method, path, cookie string, hdr map[string]string) (answer, error) {
	req, err := http.NewRequest(method, a.base+path, nil)
	if err != nil {
		return answer{}, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	a.sent.Add(1)
	resp, err := a.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	ans := answer{status: resp.StatusCode, cookies: resp.Cookies()}
	if resp.StatusCode >= 400 {
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body)
		ans.err = body.Error
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	b.apply(ans.cookies)
	return ans, nil
}

// errStatus describes an unexpected answer.
func errStatus(what string, ans answer) error {
	if ans.err != "" {
		return fmt.Errorf("%s: %d %s", what, ans.status, ans.err)
	}
	return fmt.Errorf("%s: %d", what, ans.status)
}

// valid requests path with a session that must be valid: 200 and no
// Set-Cookie (the contract for an unchanged session).
func (a *app) valid(b *browser, path string) error {
	cookie, _ := b.state()
	ans, err := a.send(b, http.MethodGet, path, cookie, nil)
	switch {
	case err != nil:
		return err
	case ans.status != http.StatusOK:
		return errStatus("GET "+path, ans)
	case len(ans.cookies) != 0:
		return fmt.Errorf("GET %s: a valid session answered with Set-Cookie", path)
	}
	return nil
}

// inline requests the inline route: 200, with new cookies if it refreshed.
func (a *app) inline(b *browser) error {
	cookie, _ := b.state()
	ans, err := a.send(b, http.MethodGet, inlinePath, cookie, nil)
	if err != nil {
		return err
	}
	if ans.status != http.StatusOK {
		return errStatus("GET "+inlinePath, ans)
	}
	return nil
}

// tryRefresh requests the try-refresh route as the browser helper's
// sessionFetch does: wait for a refresh in flight; on 401 try_refresh, one
// shared POST to the refresh handler (skipped if the cookies changed since
// the request was sent), then retry once. The retry must be 200.
func (a *app) tryRefresh(b *browser) error {
	b.mu.Lock()
	wait := b.refreshing
	b.mu.Unlock()
	if wait != nil {
		<-wait
	}
	cookie, gen := b.state()
	ans, err := a.send(b, http.MethodGet, tryPath, cookie, nil)
	if err != nil {
		return err
	}
	switch {
	case ans.status == http.StatusOK:
		return nil
	case ans.status != http.StatusUnauthorized || ans.err != "try_refresh":
		return errStatus("GET "+tryPath, ans)
	}
	if err := a.sharedRefresh(b, gen); err != nil {
		return err
	}
	cookie, _ = b.state()
	if ans, err = a.send(b, http.MethodGet, tryPath, cookie, nil); err != nil {
		return err
	}
	if ans.status != http.StatusOK {
		return errStatus("retried GET "+tryPath, ans)
	}
	return nil
}

// sharedRefresh POSTs to the refresh handler once for every caller whose
// cookies are at generation gen or older.
func (a *app) sharedRefresh(b *browser, gen uint64) error {
	b.mu.Lock()
	if b.gen > gen {
		b.mu.Unlock()
		return nil // another call already refreshed these cookies
	}
	if ch := b.refreshing; ch != nil {
		b.mu.Unlock()
		<-ch
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.refreshErr
	}
	ch := make(chan struct{})
	b.refreshing = ch
	b.posts++
	cookie := b.header
	b.mu.Unlock()

	// Same-origin fetch: no Origin or Sec-Fetch-Site, which Go's
	// CrossOriginProtection lets through; the helper's custom header.
	ans, err := a.send(b, http.MethodPost, refreshPath, cookie, map[string]string{
		"X-Session-Refresh": "1", "Accept": "application/json",
	})
	if err == nil && ans.status != http.StatusOK {
		err = errStatus("POST "+refreshPath, ans)
	}
	b.mu.Lock()
	b.refreshErr, b.refreshing = err, nil
	b.mu.Unlock()
	close(ch)
	return err
}
