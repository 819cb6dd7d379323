#!/usr/bin/env bash
# Runs every fuzz target of every package, in every module, for the given
# time each (default 30s), with minimization of a new failing input
# bounded too (FUZZ_MINIMIZE, default 10s), and prints a table of
# targets and executions: ./fuzz.sh 2m
set -euo pipefail
cd "$(dirname "$0")"
t="${1:-30s}"
minimize="${FUZZ_MINIMIZE:-10s}"
# count is how many inputs a target's corpus directory holds (0 if none).
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
printf '%-48s %-26s %s\n' package target execs
# Packages with a fuzz target: the directories of test files that define one.
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v node_modules | xargs -n1 dirname | sort -u); do
	for target in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' | sort -u); do
		corpus="$dir/testdata/fuzz/$target"
		for attempt in 1 2; do
			before=$(count "$corpus")
			if out=$(cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" -fuzzminimizetime "$minimize" . 2>&1); then
				break
			fi
			# Go's fuzzing coordinator can fail a target with a bare
			# "context deadline exceeded" as -fuzztime runs out, having
			# found nothing (golang/go#75804). That, with no failing input
			# written, is run once more; anything else fails the run.
			after=$(count "$corpus")
			if [ "$attempt" = 1 ] && [ "$after" = "$before" ] && echo "$out" | grep -q '^    context deadline exceeded$'; then
				echo "fuzz: $dir $target: the coordinator's deadline race (golang/go#75804), no input written; running it again" >&2
				continue
			fi
			echo "$out"
			echo "FAIL: $dir $target (the failing input is under $corpus)" >&2
			exit 1
		done
		execs=$(echo "$out" | grep -o 'execs: [0-9]*' | cut -d' ' -f2 | sort -n | tail -1)
		printf '%-48s %-26s %s\n' "${dir#./}" "$target" "${execs:-?}"
	done
done
