package oidcsession

import (
	"crypto/sha512"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// scriptServer mounts ScriptHandler as the README shows.
func scriptServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/static/oidcsession/", ScriptHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func fetchScript(t *testing.T, method, url string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestScriptHandlerServesBothBuilds(t *testing.T) {
	srv := scriptServer(t)
	names := regexp.MustCompile(`^oidcsession\.[0-9a-f]{16}\.(mjs|js)$`)
	for _, s := range []Script{ModuleScript(), ClassicScript()} {
		t.Run(s.Name, func(t *testing.T) {
			if !names.MatchString(s.Name) {
				t.Fatalf("name %q", s.Name)
			}
			resp, body := fetchScript(t, http.MethodGet, srv.URL+"/static/oidcsession/"+s.Name, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET: %d", resp.StatusCode)
			}
			for k, want := range map[string]string{
				"Content-Type":           "text/javascript; charset=utf-8",
				"Cache-Control":          "public, max-age=31536000, immutable",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			sum := sha512.Sum384(body)
			if want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); s.Integrity != want {
				t.Fatalf("Integrity %s does not match the bytes served (%s)", s.Integrity, want)
			}
			// The name's hash is of the bytes too: new bytes, new name.
			if !strings.Contains(s.Name, strings.Trim(resp.Header.Get("ETag"), `"`)) {
				t.Fatalf("ETag %s is not the name's hash", resp.Header.Get("ETag"))
			}

			resp, _ = fetchScript(t, http.MethodGet, srv.URL+"/static/oidcsession/"+s.Name, http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: %d", resp.StatusCode)
			}
			resp, head := fetchScript(t, http.MethodHead, srv.URL+"/static/oidcsession/"+s.Name, nil)
			if resp.StatusCode != http.StatusOK || len(head) != 0 || resp.ContentLength != int64(len(body)) {
				t.Errorf("HEAD: %d, %d body bytes, Content-Length %d", resp.StatusCode, len(head), resp.ContentLength)
			}
		})
	}
	if ModuleScript().Name == ClassicScript().Name {
		t.Fatal("both builds have one name")
	}
}

func TestScriptHandlerRefusesTheRest(t *testing.T) {
	srv := scriptServer(t)
	for _, name := range []string{"oidcsession.js", "oidcsession.0000000000000000.js", "oidcsession.0000000000000000.mjs",
		"", "..%2fgo.mod", "oidcsession.d.ts", strings.TrimSuffix(ModuleScript().Name, ".mjs") + ".js"} {
		resp, _ := fetchScript(t, http.MethodGet, srv.URL+"/static/oidcsession/"+name, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%q: %d, want 404", name, resp.StatusCode)
		}
	}
	resp, _ := fetchScript(t, http.MethodPost, srv.URL+"/static/oidcsession/"+ModuleScript().Name, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestModuleIsTheSource: the module build is js/oidcsession.js byte for byte.
func TestModuleIsTheSource(t *testing.T) {
	src, err := os.ReadFile("js/oidcsession.js")
	if err != nil {
		t.Fatal(err)
	}
	if string(moduleBuild.body) != string(src) {
		t.Fatal("the embedded module differs from js/oidcsession.js")
	}
}

// TestClassicScriptDefinesTheGlobal checks the transform on the real
// source: every named export becomes a property of the global, no module
// syntax is left, and (where node is installed) the result parses as a
// classic script and defines the global when run.
func TestClassicScriptDefinesTheGlobal(t *testing.T) {
	body := string(classicBuild.body)
	if body == "" {
		t.Fatal("js/oidcsession.js no longer ends with one export statement: the classic build is empty")
	}
	const global = "globalThis.oidcsession = Object.freeze({ sessionFetch, createSessionFetch, scheduleRefresh, signOut, onSessionChange, installAxiosInterceptor });"
	if !strings.Contains(body, global) {
		t.Fatalf("the classic build does not define the global as expected:\n%s", body[max(0, len(body)-400):])
	}
	if regexp.MustCompile(`(?m)^\s*(export|import)\s`).MatchString(body) {
		t.Fatal("module syntax left in the classic build")
	}
	if !strings.HasPrefix(body, "// oidcsession.js as a classic script") || !strings.HasSuffix(body, "})();\n") {
		t.Fatal("not wrapped")
	}

	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the classic build is run by the e2e module in Chromium instead")
	}
	file := filepath.Join(t.TempDir(), "classic.js")
	if err := os.WriteFile(file, classicBuild.body, 0o600); err != nil {
		t.Fatal(err)
	}
	// A CommonJS file is a classic script; running it must define the global.
	out, err := exec.Command(node, "-e", `require(process.argv[1]); const o = globalThis.oidcsession;
		const names = Object.keys(o).sort().join(","); if (!Object.isFrozen(o) || Object.values(o).some((f) => typeof f !== "function")) process.exit(2);
		console.log(names);`, file).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "createSessionFetch,installAxiosInterceptor,onSessionChange,scheduleRefresh,sessionFetch,signOut" {
		t.Fatalf("global has %s", got)
	}
}

func TestClassicScriptRefusesOtherShapes(t *testing.T) {
	for name, src := range map[string]string{
		"no export":           "const a = 1;\n",
		"export not last":     "const a = 1;\nexport { a };\nconst b = 2;\n",
		"two exports":         "export const b = 2;\nconst a = 1;\nexport { a };\n",
		"an import":           "import x from \"./x.js\";\nconst a = 1;\nexport { a };\n",
		"import.meta":         "const u = import.meta.url;\nexport { u };\n",
		"only a default":      "const a = 1;\nexport { a as default };\n",
		"a strange specifier": "const a = 1;\nexport { a as b as c };\n",
	} {
		if got := classicScript([]byte(src)); got != nil {
			t.Errorf("%s: built\n%s", name, got)
		}
	}
	got := string(classicScript([]byte("const a = 1, b = 2;\nexport { a as default, a, b as c };\n")))
	if !strings.Contains(got, "globalThis.oidcsession = Object.freeze({ a, c: b });") {
		t.Errorf("renamed export:\n%s", got)
	}
}
