#!/usr/bin/env bash
# The test command: vet, staticcheck and the race-enabled tests of every
# module in the repository.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$(go env GOPATH)/bin:$PATH"
if ! command -v staticcheck >/dev/null 2>&1; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
# Interop with real providers: the loop below runs integration/ too, which
# starts oidc-provider and Dex; get them ready first (npm ci, a cached Dex
# build) and say which is not, since its tests then skip and go test does
# not show why for a passing package. OIDCSESSION_INTEGRATION=off skips it.
if [ "${OIDCSESSION_INTEGRATION:-}" != off ]; then
	bash integration/scripts/prepare.sh
fi
# The pinned axios (npm ci in e2e/axios) for the end-to-end test of the
# helper's axios interceptor in Chromium.
bash e2e/scripts/prepare.sh

for mod in $(find . -name go.mod -not -path './node_modules/*' -exec dirname {} \; | sort); do
	echo "== $mod"
	(cd "$mod" && go vet ./... && staticcheck ./... && go test -race -count=1 ./...)
done

# Screenshots the end-to-end tests took (e2e/, headless Chromium).
if [ -d e2e/artifacts ]; then
	echo "== e2e screenshots"
	find e2e/artifacts -name '*.png' | sort
fi

# The browser helper of the try-refresh contract (js/), with Node's own
# test runner; no npm packages are needed.
if command -v node >/dev/null 2>&1; then
	echo "== js"
	node --test js/
else
	echo "== js: skipped, node is not installed (.ci/run installs it)" >&2
fi
