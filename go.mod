module github.com/oidcsession/oidcsession

go 1.25.0

require (
	github.com/coreos/go-oidc/v3 v3.21.0
	github.com/gorilla/securecookie v1.1.2
	golang.org/x/oauth2 v0.36.0
)

require github.com/go-jose/go-jose/v4 v4.1.4 // indirect
