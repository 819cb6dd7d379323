// Package integration drives oidcsession through real HTTP against real,
// third-party OpenID providers: panva/oidc-provider (OpenID Certified) and
// Dex, each at a pinned version. Everything else in the repository tests
// against oidcsessiontest, which shares the package's reading of the specs;
// these tests check that reading against providers that did not.
//
// The tests start the providers as child processes on free loopback ports
// (see TestMain), sign in through the providers' own pages with a
// cookie-jar browser, and count grants, revocations and reuse detections
// at the provider: oidc-provider's events, Dex's logs. Run them with
//
//	cd integration && go test ./...
//
// A provider that cannot be started (no node or npm, no Go module proxy
// for the Dex build) is skipped with the reason; with
// OIDCSESSION_INTEGRATION=require (as CI sets it) that is a failure, and
// with OIDCSESSION_INTEGRATION=off nothing runs. See the README, "Interop
// with real providers".
package integration
