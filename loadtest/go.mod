module github.com/oidcsession/oidcsession/loadtest

go 1.25.0

replace github.com/oidcsession/oidcsession => ../

replace github.com/oidcsession/oidcsession/redisstore => ../redisstore

require (
	github.com/coreos/go-oidc/v3 v3.21.0
	github.com/oidcsession/oidcsession v0.0.0
	github.com/oidcsession/oidcsession/redisstore v0.0.0-00010101000000-000000000000
	github.com/redis/go-redis/v9 v9.22.0
	golang.org/x/oauth2 v0.36.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-jose/go-jose/v4 v4.1.4 // indirect
	github.com/gorilla/securecookie v1.1.2 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
