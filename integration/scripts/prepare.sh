#!/usr/bin/env bash
# Makes the integration tests' providers ready before `go test` runs them:
# installs the pinned oidc-provider (npm ci) unless it is installed, and
# builds the pinned Dex unless it is cached. Says which provider is ready
# and why another is not; the tests skip a provider that is not ready.
#
#   integration/scripts/prepare.sh            report and carry on
#   integration/scripts/prepare.sh --require  fail if a provider is not ready (CI)
set -uo pipefail
cd "$(dirname "$0")"
export PATH="/usr/local/go/bin:$PATH"

require=false
[ "${1:-}" = "--require" ] && require=true
want_op=$(sed -n 's/.*"oidc-provider": "\([^"]*\)".*/\1/p' ../oidc-provider/package.json)
failed=0

op_version() {
	node -e 'console.log(require(process.argv[1]).version)' ../oidc-provider/node_modules/oidc-provider/package.json 2>/dev/null
}

if ! command -v node >/dev/null 2>&1; then
	echo "integration: oidc-provider unavailable: node is not installed; its tests will be skipped" >&2
	failed=1
elif [ "$(op_version)" = "$want_op" ]; then
	echo "integration: oidc-provider $want_op ready (node $(node --version))"
elif ! command -v npm >/dev/null 2>&1; then
	echo "integration: oidc-provider unavailable: npm is not installed to install it; its tests will be skipped" >&2
	failed=1
elif out=$(./install-oidc-provider.sh 2>&1); then
	echo "integration: oidc-provider $want_op installed (node $(node --version))"
else
	echo "integration: oidc-provider unavailable: npm ci failed; its tests will be skipped" >&2
	echo "$out" | tail -5 >&2
	failed=1
fi

start=$SECONDS
if out=$(./build-dex.sh 2>&1); then
	echo "integration: Dex ready: $(echo "$out" | tail -1) ($((SECONDS - start))s)"
else
	echo "integration: Dex unavailable: building it failed; its tests will be skipped" >&2
	echo "$out" | tail -5 >&2
	failed=1
fi

if $require && [ $failed -ne 0 ]; then
	echo "integration: a provider is not ready and --require was given" >&2
	exit 1
fi
exit 0
