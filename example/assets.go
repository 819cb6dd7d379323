package main

import (
	"embed"
	"net/http"
	"path"
)

// static holds the pages' scripts and the favicon. The scripts are
// separate files, not inline code, so the pages' CSP needs no
// 'unsafe-inline'.
//
//go:embed static
var static embed.FS

// staticTypes are the Content-Types of the files in static/.
var staticTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

// serveStatic serves one file of static/ by name, revalidated on each use
// (the names carry no hash, unlike the helper's).
func serveStatic(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", staticTypes[path.Ext(name)])
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	})
}
