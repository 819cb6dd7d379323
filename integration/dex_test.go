package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/oidcsession/oidcsession"
)

// The pinned Dex release, as in scripts/build-dex.sh.
const dexVersion = "v2.45.1"

// dexBinary is where scripts/build-dex.sh caches the build.
func dexBinary() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "oidcsession", "dex-"+dexVersion)
}

// startDex builds Dex if it is not cached (scripts/build-dex.sh, from the
// Go module proxy), starts it with in-memory storage, the password
// connector with static accounts for the tests to take in turn, and two
// static clients (one confidential, one public), and waits for its
// discovery document.
func startDex() (*provider, error) {
	bin := dexBinary()
	if _, err := os.Stat(bin); err != nil {
		out, err := runScript(8*time.Minute, repoRoot(), "integration/scripts/build-dex.sh")
		if err != nil {
			return nil, fmt.Errorf("building Dex %s: %w", dexVersion, err)
		}
		bin = out[strings.LastIndexByte(out, '\n')+1:]
	}

	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.DefaultCost) // Dex refuses cheaper hashes
	if err != nil {
		return nil, err
	}
	var passwords []map[string]any
	for i := 1; i <= dexUserCount; i++ {
		name := fmt.Sprintf("user%02d", i)
		passwords = append(passwords, map[string]any{
			"email": name + "@example.test", "username": name, "userID": name, "hash": string(hash),
		})
	}
	callbacks, _ := redirectURIs() // Dex has no RP-initiated logout: no post-logout URIs
	exCallback, _ := exampleURIs("dex")
	secret := rand.Text()
	clients := map[string]clientReg{
		// Dex accepts the secret either way on the same client.
		"basic":  {id: "app", secret: secret, auth: oidcsession.ClientSecretBasic, idTokenAlg: "RS256"},
		"post":   {id: "app", secret: secret, auth: oidcsession.ClientSecretPost, idTokenAlg: "RS256"},
		"public": {id: "app-public", auth: oidcsession.ClientAuthNone, idTokenAlg: "RS256"},
	}

	var proc *child
	var issuer string
	// The port is chosen before Dex binds it; retry if someone took it.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		issuer = "http://127.0.0.1:" + strconv.Itoa(port)
		cfg := map[string]any{
			"issuer":  issuer,
			"storage": map[string]any{"type": "memory"},
			"web":     map[string]any{"http": "127.0.0.1:" + strconv.Itoa(port)},
			// Debug level: Dex logs every successful refresh grant with the
			// user's ID ("saved connector data"), which the tests count.
			"logger":           map[string]any{"level": "debug", "format": "json"},
			"oauth2":           map[string]any{"skipApprovalScreen": true},
			"expiry":           map[string]any{"idTokens": strconv.Itoa(tokenLifetime) + "s"},
			"enablePasswordDB": true,
			"staticPasswords":  passwords,
			"staticClients": []map[string]any{
				{"id": "app", "secret": secret, "name": "oidcsession tests", "redirectURIs": append(callbacks, exCallback)},
				{"id": "app-public", "public": true, "name": "oidcsession tests (public)", "redirectURIs": callbacks},
			},
		}
		cfgPath := filepath.Join(tmpDir, "dex.json") // JSON is YAML too
		b, _ := json.MarshalIndent(cfg, "", "  ")
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			return nil, err
		}
		proc, err = startChild("dex", tmpDir, exec.Command(bin, "serve", cfgPath))
		if err != nil {
			return nil, err
		}
		err = waitForDiscovery(proc, issuer, 20*time.Second)
		if err == nil {
			break
		}
		proc.stop()
		if attempt == 2 || !strings.Contains(proc.log.tail(5), "address already in use") {
			return nil, fmt.Errorf("%w\n%s", err, proc.log.tail(20))
		}
	}

	var seq atomic.Int64
	p := &provider{
		name:    "dex",
		issuer:  issuer,
		proc:    proc,
		clients: clients,
		stop:    proc.stop,
		// None of revocation, end_session, prompt=none, family revocation,
		// consent for offline_access, resource indicators, RFC 9207 iss.
	}
	p.newUser = func(t *testing.T) user {
		// In turn: far fewer tests than accounts run at once, and the
		// counts start where this test took the account.
		name := fmt.Sprintf("user%02d", (seq.Add(1)-1)%dexUserCount+1)
		t.Logf("Dex account %s", name)
		return user{name: name, login: name + "@example.test", email: name + "@example.test", since: len(proc.log.Lines())}
	}
	p.counts = func(t *testing.T, u user) counts { return dexCounts(proc.log, u) }
	return p, nil
}

// dexLine is one of Dex's JSON log lines, with the fields the tests read.
type dexLine struct {
	Msg      string `json:"msg"`
	Username string `json:"username"`
	UserID   string `json:"user_id"`
}

// dexCounts reads what Dex logged about u: a "login successful" line per
// sign-in, and at debug level a "saved connector data" line per successful
// refresh grant (Dex updates the user's offline session on every refresh,
// including reuse within its reuse interval, and on nothing else). Dex
// logs a refused refresh token ("refresh token claimed twice") with the
// token's ID but not the user: dexRefusals attributes those.
func dexCounts(log *lineLog, u user) counts {
	c := counts{Consumed: -1, Revoked: -1, EndSessions: -1, Backchannel: -1, SilentOK: -1}
	for _, line := range log.Lines()[u.since:] {
		var l dexLine
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch {
		case l.Msg == "login successful" && l.Username == u.name:
			c.SignIns++
		case l.Msg == "saved connector data" && l.UserID == u.name:
			c.RefreshGrants++
		}
	}
	return c
}

// dexRefusals counts Dex's "refresh token claimed twice" lines logged
// since the log had from lines about refresh tokens u's apps presented:
// Dex's only record of a spent refresh token being presented again.
func dexRefusals(log *lineLog, from int, u user) int {
	n := 0
	for _, line := range log.Lines()[from:] {
		var l struct {
			Msg     string `json:"msg"`
			TokenID string `json:"token_id"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "refresh token claimed twice" {
			if owner, _ := dexTokenOwners.Load(l.TokenID); owner == u.name {
				n++
			}
		}
	}
	return n
}

// dexTokenOwners maps the ID of every refresh token an app presented to
// Dex to the account it was for.
var dexTokenOwners sync.Map

// dexWire is an app's HTTP client transport at Dex: it notes which
// account each refresh token the app presents belongs to (by its ID, as
// Dex logs it), so dexRefusals counts each test's own refusals while
// tests run in parallel. It changes nothing it sends.
type dexWire struct{ account string }

func (d dexWire) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/token") && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" {
			if id := dexRefreshID(form.Get("refresh_token")); id != "" {
				dexTokenOwners.Store(id, d.account)
			}
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(req)
}

// dexRefreshID reads the ID out of a Dex refresh token: base64url of a
// protobuf message whose field 1 is the ID (dex server/internal).
func dexRefreshID(tok string) string {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 0x0a {
		return ""
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return ""
	}
	return string(b[1+k : 1+k+int(n)])
}
