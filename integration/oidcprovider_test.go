package integration

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// The pinned oidc-provider version, as in oidc-provider/package.json.
const oidcProviderVersion = "9.13.3"

// The resources (RFC 8707) the provider knows, each with its own scope;
// their access tokens are JWTs (ES256) with the resource as audience. An
// authorization request without a resource parameter is for the APIs whose
// scopes it asks for (provider.mjs), since oidc-provider gives a refresh
// token access only to the resources of its authorization request.
const (
	apiResource    = "https://api.example.test/"
	apiScope       = "api:read"
	ordersResource = "https://orders.example/"
	ordersScope    = "orders:read"
)

// opConfig is provider.mjs's configuration file.
type opConfig struct {
	Port           int              `json:"port"`
	Password       string           `json:"password"`
	AccessTokenTTL int              `json:"accessTokenTTL"`
	IDTokenTTL     int              `json:"idTokenTTL"`
	Resources      []opResource     `json:"resources"`
	Clients        []map[string]any `json:"clients"`
}

type opResource struct {
	Indicator string `json:"indicator"`
	Scope     string `json:"scope"`
}

// startOIDCProvider installs oidc-provider if needed (npm ci), starts
// provider.mjs with one client per authentication method and ID-token
// algorithm, and waits for its discovery document.
func startOIDCProvider() (*provider, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node is not installed (Node 20 or later runs oidc-provider)")
	}
	dir := filepath.Join(repoRoot(), "integration", "oidc-provider")
	if err := installedVersion(dir); err != nil {
		if _, lerr := exec.LookPath("npm"); lerr != nil {
			return nil, fmt.Errorf("%v, and npm is not installed to install it", err)
		}
		if _, err := runScript(3*time.Minute, repoRoot(), "integration/scripts/install-oidc-provider.sh"); err != nil {
			return nil, fmt.Errorf("installing oidc-provider: %w", err)
		}
		if err := installedVersion(dir); err != nil {
			return nil, err
		}
	}

	callbacks, postLogout := redirectURIs()
	exCallback, exPostLogout := exampleURIs("oidc-provider")
	base := map[string]any{
		"grant_types":               []string{"authorization_code", "refresh_token"},
		"response_types":            []string{"code"},
		"redirect_uris":             append(callbacks, exCallback),
		"post_logout_redirect_uris": append(postLogout, exPostLogout),
	}
	clients := map[string]clientReg{}
	var regs []map[string]any
	add := func(role string, c clientReg, meta map[string]any) {
		c.id = role
		if c.idTokenAlg == "" {
			c.idTokenAlg = "RS256"
		}
		reg := map[string]any{"client_id": c.id, "token_endpoint_auth_method": string(c.auth)}
		for k, v := range base {
			reg[k] = v
		}
		for k, v := range meta {
			reg[k] = v
		}
		if c.secret != "" {
			reg["client_secret"] = c.secret
		}
		reg["id_token_signed_response_alg"] = c.idTokenAlg
		clients[role] = c
		regs = append(regs, reg)
	}
	add("basic", clientReg{secret: rand.Text(), auth: oidcsession.ClientSecretBasic}, nil)
	// One client per app slot whose back-channel logout URI is the
	// package's handler on that slot (newApp mounts it), with sid in its
	// ID and logout tokens.
	for _, s := range allSlots {
		add(backchannelRole(s), clientReg{secret: rand.Text(), auth: oidcsession.ClientSecretBasic}, map[string]any{
			"backchannel_logout_uri":              s.base + backchannelPath,
			"backchannel_logout_session_required": true,
		})
	}
	add("post", clientReg{secret: rand.Text(), auth: oidcsession.ClientSecretPost}, nil)
	add("public", clientReg{auth: oidcsession.ClientAuthNone}, nil)
	add("es256", clientReg{secret: rand.Text(), auth: oidcsession.ClientSecretBasic, idTokenAlg: "ES256"}, nil)
	add("ps256", clientReg{secret: rand.Text(), auth: oidcsession.ClientSecretBasic, idTokenAlg: "PS256"}, nil)
	for _, kt := range []struct{ role, alg string }{{"private_key_jwt-es256", "ES256"}, {"private_key_jwt-ps256", "PS256"}} {
		key, jwk, err := clientKey(kt.role, kt.alg)
		if err != nil {
			return nil, err
		}
		add(kt.role, clientReg{auth: oidcsession.PrivateKeyJWTAuth, key: key}, map[string]any{
			"jwks":                            map[string]any{"keys": []any{jwk}},
			"token_endpoint_auth_signing_alg": kt.alg,
		})
	}

	cfg := opConfig{
		Password:       testPassword,
		AccessTokenTTL: tokenLifetime,
		IDTokenTTL:     300,
		Resources:      []opResource{{Indicator: apiResource, Scope: apiScope}, {Indicator: ordersResource, Scope: ordersScope}},
		Clients:        regs,
	}
	cfgPath := filepath.Join(tmpDir, "oidc-provider.json")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}

	cmd := exec.Command(node, filepath.Join(dir, "provider.mjs"), cfgPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_ENV=production")
	issuerc := make(chan string, 1)
	proc, err := startChild("oidc-provider", tmpDir, cmd)
	if err != nil {
		return nil, err
	}
	proc.log.onLine(func(line string) {
		var v struct{ Issuer string }
		if json.Unmarshal([]byte(line), &v) == nil && v.Issuer != "" {
			select {
			case issuerc <- v.Issuer:
			default:
			}
		}
	})
	var issuer string
	select {
	case issuer = <-issuerc:
	case <-proc.done:
		return nil, fmt.Errorf("provider.mjs exited: %v\n%s", proc.err, proc.log.tail(20))
	case <-time.After(30 * time.Second):
		proc.stop()
		return nil, fmt.Errorf("provider.mjs did not start in 30s\n%s", proc.log.tail(20))
	}
	if err := waitForDiscovery(proc, issuer, 10*time.Second); err != nil {
		proc.stop()
		return nil, err
	}
	p := &provider{
		name:               "oidc-provider",
		issuer:             issuer,
		proc:               proc,
		clients:            clients,
		revocation:         true,
		endSession:         true,
		promptNone:         true,
		familyRevocation:   true,
		consentForOffline:  true,
		resourceIndicators: true,
		issParameter:       true,
		stop:               proc.stop,
	}
	p.newUser = func(t *testing.T) user {
		// Any account name signs in with the password; the test's name
		// keeps the provider's log readable.
		name := fmt.Sprintf("u%03d-%s", userSeq.Add(1), strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
		if len(name) > 64 {
			name = name[:64]
		}
		return user{name: name, login: name, email: name + "@example.test"}
	}
	p.counts = func(t *testing.T, u user) counts { return opCounts(t, issuer, u) }
	return p, nil
}

// installedVersion checks that npm ci installed the pinned oidc-provider.
func installedVersion(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "oidc-provider", "package.json"))
	if err != nil {
		return errors.New("oidc-provider is not installed (integration/scripts/install-oidc-provider.sh runs npm ci)")
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.Version != oidcProviderVersion {
		return fmt.Errorf("oidc-provider %q is installed, want %s (run integration/scripts/install-oidc-provider.sh)", pkg.Version, oidcProviderVersion)
	}
	return nil
}

// clientKey makes a private_key_jwt key pair: the private half for
// oidcsession, the public JWK for the client's registration.
func clientKey(kid, alg string) (*oidcsession.PrivateKeyJWT, map[string]any, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	var signer crypto.Signer
	jwk := map[string]any{"kid": kid, "use": "sig", "alg": alg}
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		point, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, nil, err
		}
		jwk["kty"], jwk["crv"], jwk["x"], jwk["y"] = "EC", "P-256", b64(point[1:33]), b64(point[33:])
		signer = k
	case "PS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		jwk["kty"], jwk["n"], jwk["e"] = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
		signer = k
	default:
		return nil, nil, fmt.Errorf("no key for %s", alg)
	}
	return &oidcsession.PrivateKeyJWT{Key: signer, KeyID: kid, Algorithm: alg}, jwk, nil
}

// opEvent is one of provider.mjs's recorded events.
type opEvent struct {
	Event            string `json:"event"`
	GrantType        string `json:"grant_type"`
	Client           string `json:"client"`
	Account          string `json:"account"`
	Route            string `json:"route"`
	Prompt           string `json:"prompt"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorDetail      string `json:"error_detail"`
}

// opEvents reads the provider's events about one account.
func opEvents(t *testing.T, issuer, account string) []opEvent {
	t.Helper()
	resp, err := http.Get(issuer + "/__events?account=" + url.QueryEscape(account))
	if err != nil {
		t.Fatalf("reading oidc-provider's events: %v", err)
	}
	defer resp.Body.Close()
	var events []opEvent
	if err := json.NewDecoder(resp.Body).Decode(&events); err != nil {
		t.Fatalf("decoding oidc-provider's events: %v", err)
	}
	return events
}

// opCounts sums up the provider's events about u. The provider emits them
// before it answers, so they are complete once the package has its answer.
func opCounts(t *testing.T, issuer string, u user) counts {
	t.Helper()
	var c counts
	for _, e := range opEvents(t, issuer, u.name) {
		switch {
		case e.Event == "grant.success" && e.GrantType == "authorization_code":
			c.SignIns++
		case e.Event == "grant.success" && e.GrantType == "refresh_token":
			c.RefreshGrants++
		case e.Event == "grant.error" && e.GrantType == "refresh_token":
			// "invalid_grant: refresh token already used": the code the
			// client saw and the provider's own reason.
			reason := e.ErrorDetail
			if reason == "" {
				reason = e.ErrorDescription
			}
			c.RefreshErrors = append(c.RefreshErrors, e.Error+": "+reason)
		case e.Event == "refresh_token.consumed":
			c.Consumed++
		case e.Event == "grant.revoked":
			c.Revoked++
			c.RevokedBy = append(c.RevokedBy, e.Route)
		case e.Event == "end_session.success":
			c.EndSessions++
		case e.Event == "backchannel.success":
			c.Backchannel++
		case e.Event == "backchannel.error":
			c.BackchannelErrors = append(c.BackchannelErrors, e.Error)
		case e.Event == "revocation.error":
			c.RevocationErrors = append(c.RevocationErrors, e.Error+": "+e.ErrorDescription)
		case e.Event == "authorization.error":
			c.AuthErrors = append(c.AuthErrors, e.Error)
		case e.Event == "authorization.success" && e.Prompt == "none":
			c.SilentOK++
		}
	}
	return c
}
