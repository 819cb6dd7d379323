package oidcsessiontest

import (
	"encoding/json"
	"html"
	"net/http"
	"strings"
)

// oauthError is an OAuth 2.0 error response body (RFC 6749 5.2).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeJSON writes v as JSON with no-store caching, as RFC 6749 5.1 requires
// of token responses and is harmless elsewhere.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeOAuthError writes {"error":code,"error_description":desc}.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, oauthError{Error: code, Description: desc})
}

// writeErrorPage writes an HTML error page for authorization requests that
// must not be redirected (unknown client or redirect URI, RFC 6749 4.1.2.1).
func writeErrorPage(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<!doctype html><title>" + html.EscapeString(code) + "</title><h1>" +
		html.EscapeString(code) + "</h1><p>" + html.EscapeString(desc) + "</p>\n"))
}

// allowMethods answers 405 with an OAuth error unless r uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "method "+r.Method+" not allowed")
	return false
}
