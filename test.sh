#!/usr/bin/env bash
# The test command: vet, staticcheck and the race-enabled tests of every
# module in the repository.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$(go env GOPATH)/bin:$PATH"
for mod in $(find . -name go.mod -not -path './node_modules/*' -exec dirname {} \; | sort); do
	echo "== $mod"
	(cd "$mod" && go vet ./... && staticcheck ./... && go test -race -count=1 ./...)
done
