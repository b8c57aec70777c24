#!/usr/bin/env bash
# Fuzz campaign: runs every Go fuzz target of the repository (every
# `func FuzzXxx(f *testing.F)` in a _test.go file) for the same time, one after
# the other, and prints a table of targets, executions and results.
#
#   tools/fuzz.sh [duration] [target-regexp]    e.g. tools/fuzz.sh 10m, tools/fuzz.sh 30s PDU
#
# A target that fails leaves its input under the package's
# testdata/fuzz/<Target>/: from then on `go test` runs it as a regular test
# case. Commit it with the fix. Seeds are the f.Add calls in each target.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
time=${1:-10m}
only=${2:-.}

mapfile -t targets < <(
  git grep -l -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' -- '*_test.go' | while read -r f; do
    for name in $(grep -o -E '^func Fuzz[A-Za-z0-9_]+' "$f" | cut -c6-); do
      echo "./$(dirname "$f") $name"
    done
  done | sort -u | grep -E -- "$only")
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz target matches $only" >&2; exit 2; }

echo "fuzz.sh: ${#targets[@]} targets, $time each, started $(date -u +%FT%TZ) on $(nproc) cores"
printf '\n| package | target | minutes | executions | result |\n| --- | --- | ---: | ---: | --- |\n'
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  pkg=${t% *} name=${t#* }
  start=$(date +%s)
  # -parallel 1: the campaign shares the machine; one worker per target.
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -parallel 1 "$pkg" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (input saved under $pkg/testdata/fuzz/$name)"
    failed=$((failed + 1))
    tail -30 "$log" >&2
  fi
  execs=$(grep -o -E 'execs: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  mins=$(awk -v s="$(($(date +%s) - start))" 'BEGIN { printf "%.1f", s / 60 }')
  printf '| %s | %s | %s | %s | %s |\n' "${pkg#./}" "$name" "$mins" "${execs:-?}" "$result"
done
echo
git status --short -- '*/testdata/fuzz/*' | sed 's/^/new failing input: /'
exit $((failed > 0))
