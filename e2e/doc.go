// Package e2e proves the browser side of oidcsession in real headless
// Chromium (Debian's chromium package), driven over the DevTools protocol
// with chromedp: the helper (js/oidcsession.js) as a module and as a classic
// script under a strict CSP, one refresh POST per expiry across calls and
// tabs, scheduled renewal, sign-out across tabs, a refused refresh and a
// provider outage, and the example app clicked through with screenshots:
// in its default cookie mode (the orders API through the proxy included),
// and with REDIS_URL on a redis-server the test starts (three browser
// contexts of one user: the sessions list, one device signed out, then the
// other devices).
//
// Refresh POSTs are counted from the browser's own network events, grants
// at the oidcsessiontest provider. Run it with
//
//	cd e2e && go test ./...
//
// Chromium is found as $CHROMIUM, chromium or chromium-browser on PATH, or
// /usr/bin/chromium. Without it the tests skip, unless OIDCSESSION_E2E=require
// (set by .ci/run), which makes them fail; likewise the Redis test without
// redis-server and OIDCSESSION_REDIS=require. Screenshots are written to
// e2e/artifacts/ (not committed).
package e2e
