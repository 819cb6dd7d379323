#!/usr/bin/env bash
# Builds the pinned Dex from the Go module proxy, once: the binary is cached
# under ${XDG_CACHE_HOME:-$HOME/.cache}/oidcsession/ and its path printed.
#
# Dex's module path has no /v2 suffix, so its v2.x tags are not module
# versions: the tag's commit is fetched as a pseudo-version instead. Its
# go.mod replaces github.com/dexidp/dex/api/v2 with ./api/v2, a nested
# module that module zips leave out; at this tag api/v2 differs from its
# own release api/v2.4.0 (which go.mod requires) only in go.mod and go.sum,
# so the replace is dropped and the release is used.
set -euo pipefail

DEX_TAG=v2.45.1
DEX_VERSION=v0.0.0-20260303133905-11d2eeb52b42 # commit 11d2eeb52b42 = tag v2.45.1

export PATH="/usr/local/go/bin:$PATH"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/oidcsession"
bin="$cache/dex-$DEX_TAG"
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$cache"

src=$(go mod download -json "github.com/dexidp/dex@$DEX_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -d "$src" ]; then
	echo "build-dex: could not download github.com/dexidp/dex@$DEX_VERSION" >&2
	exit 1
fi
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -R "$src" "$work/dex"
chmod -R u+w "$work/dex"
cd "$work/dex"
go mod edit -dropreplace=github.com/dexidp/dex/api/v2
# Without cgo Dex builds without its SQLite storage, which the tests do not
# use (they use the in-memory storage), and much faster.
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
	-ldflags "-X main.version=$DEX_TAG" \
	-o "$bin.partial" ./cmd/dex
mv "$bin.partial" "$bin"
echo "$bin"
