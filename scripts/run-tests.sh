#!/usr/bin/env bash
# Runs every Check suite binary, then the end-to-end scripts, and fails if any failed.
# Usage: run-tests.sh BUILD_DIR test-binaries...
set -u
build=$1; shift
fail=0; total_pass=0; total_fail=0
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks|SKIP|FAIL|Error' | sed "s|^|$(basename "$t"): |"
    [ $rc -ne 0 ] && { fail=1; printf '%s\n' "$out" | tail -20; }
done
for e in tests/e2e/*.sh; do
    [ -f "$e" ] || continue
    if out=$(LECTERN_BIN="${LECTERN_BIN:-bin/lectern}" BUILD="$build" bash "$e" 2>&1); then
        echo "$(basename "$e"): ok"; total_pass=$((total_pass+1))
        printf '%s\n' "$out" | grep -E '^SKIP' || true
    else
        echo "$(basename "$e"): FAILED"; printf '%s\n' "$out" | tail -30
        fail=1; total_fail=$((total_fail+1))
    fi
done
echo "e2e: $total_pass passed, $total_fail failed"
exit $fail
