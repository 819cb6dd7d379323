package oidcsession

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

// scriptSource is the browser helper's ES module (js/oidcsession.js), the
// one source of both builds ScriptHandler serves.
//
//go:embed js/oidcsession.js
var scriptSource []byte

// Script is one build of the browser helper as ScriptHandler serves it.
// Render both fields into the page:
//
//	<script src="/static/oidcsession/{{.Name}}" integrity="{{.Integrity}}"></script>
type Script struct {
	// Name is the file name ScriptHandler serves the build under, e.g.
	// "oidcsession.1f2e3d4c5b6a7988.mjs". It contains a hash of the bytes,
	// so it changes whenever they do and browsers may cache it for a year.
	Name string
	// Integrity is the Subresource Integrity value of the bytes
	// ("sha384-…"), for <script integrity> or an import map's "integrity".
	Integrity string
}

// scriptBuild is a Script with the bytes it names.
type scriptBuild struct {
	Script
	body []byte
	etag string
}

var (
	moduleBuild  = newScriptBuild("mjs", scriptSource)
	classicBuild = newScriptBuild("js", classicScript(scriptSource))
)

// ModuleScript is the ES module build: load it with <script type="module">
// or through an import map, and import sessionFetch (default),
// createSessionFetch, scheduleRefresh, signOut, onSessionChange and
// installAxiosInterceptor from it.
func ModuleScript() Script { return moduleBuild.Script }

// ClassicScript is the classic build: a plain <script> that defines the
// global oidcsession with the module's named exports, for pages that do not
// use modules.
func ClassicScript() Script { return classicBuild.Script }

// ScriptHandler serves both builds of the browser helper, wherever it is
// mounted, by file name (see ModuleScript and ClassicScript):
//
//	mux.Handle("GET /static/oidcsession/", oidcsession.ScriptHandler())
//
// The answers are cacheable for a year (the names change with the bytes),
// text/javascript with nosniff, and need no inline code, so the helper works
// under a strict Content-Security-Policy. Unknown names answer 404.
func ScriptHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var b *scriptBuild
		switch name := path.Base(r.URL.Path); name {
		case moduleBuild.Name:
			b = moduleBuild
		case classicBuild.Name:
			b = classicBuild
		}
		if b == nil || b.Name == "" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", b.etag)
		http.ServeContent(w, r, b.Name, time.Time{}, bytes.NewReader(b.body))
	})
}

// newScriptBuild names body by its hash; a nil body gives a build with no
// name, which ScriptHandler does not serve.
func newScriptBuild(ext string, body []byte) *scriptBuild {
	if body == nil {
		return &scriptBuild{}
	}
	sum := sha256.Sum256(body)
	sri := sha512.Sum384(body)
	hash := hex.EncodeToString(sum[:8])
	return &scriptBuild{
		Script: Script{
			Name:      "oidcsession." + hash + "." + ext,
			Integrity: "sha384-" + base64.StdEncoding.EncodeToString(sri[:]),
		},
		body: body,
		etag: `"` + hash + `"`,
	}
}

// moduleSyntax finds what only a module may contain: import and export
// statements, and import.meta.
var moduleSyntax = regexp.MustCompile(`(?m)^\s*(import|export)[\s{*]|import\.meta`)

// classicScript makes the classic build from the module: the module ends
// with one `export { … };` statement and is plain script code above it, so
// wrapping that code in a strict function and replacing the statement with
// a global is enough. It returns nil when the source does not have that
// shape (a test guards it).
func classicScript(module []byte) []byte {
	src := strings.TrimRight(string(module), "\n")
	i := strings.LastIndex(src, "\nexport {")
	if i < 0 || !strings.HasSuffix(src, "};") {
		return nil
	}
	code, stmt := src[:i+1], src[i+1:]
	if moduleSyntax.MatchString(code) {
		return nil
	}
	var props []string
	for _, part := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(stmt, "export {"), "};"), ",") {
		switch f := strings.Fields(part); {
		case len(f) == 1:
			props = append(props, f[0])
		case len(f) == 3 && f[1] == "as" && f[2] == "default":
			// The module's default export; the global has named properties only.
		case len(f) == 3 && f[1] == "as":
			props = append(props, f[2]+": "+f[0])
		default:
			return nil
		}
	}
	if len(props) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("// oidcsession.js as a classic script: defines the global oidcsession.\n")
	b.WriteString("(function () {\n\"use strict\";\n")
	b.WriteString(code)
	b.WriteString("globalThis.oidcsession = Object.freeze({ " + strings.Join(props, ", ") + " });\n})();\n")
	return []byte(b.String())
}
