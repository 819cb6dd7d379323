#!/usr/bin/env bash
# Makes the end-to-end tests' npm dependency ready before `go test` runs
# them: installs the pinned axios (npm ci in e2e/axios) unless it is
# installed. The axios test skips without it, or fails under
# OIDCSESSION_E2E=require.
#
#   e2e/scripts/prepare.sh            report and carry on
#   e2e/scripts/prepare.sh --require  fail if axios cannot be installed (CI)
set -uo pipefail
cd "$(dirname "$0")/../axios"

require=false
[ "${1:-}" = "--require" ] && require=true
want=$(sed -n 's/.*"axios": "\([^"]*\)".*/\1/p' package.json)
have=$(node -e 'console.log(require(process.argv[1]).version)' "$PWD/node_modules/axios/package.json" 2>/dev/null)

if [ "$have" = "$want" ]; then
	echo "e2e: axios $want ready"
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "e2e: axios unavailable: npm is not installed; the axios test will be skipped" >&2
elif out=$(npm ci --no-audit --no-fund 2>&1); then
	echo "e2e: axios $want installed"
	exit 0
else
	echo "e2e: axios unavailable: npm ci failed; the axios test will be skipped" >&2
	echo "$out" | tail -5 >&2
fi
$require && exit 1
exit 0
