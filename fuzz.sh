#!/usr/bin/env bash
# Runs every fuzz target of the core package for the given time each
# (default 30s): ./fuzz.sh 2m
set -euo pipefail
cd "$(dirname "$0")"
t="${1:-30s}"
for target in $(go test -list '^Fuzz' . | grep '^Fuzz'); do
	echo "== $target ($t)"
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" .
done
