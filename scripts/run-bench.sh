#!/usr/bin/env bash
# Runs every benchmark binary in BUILD/bench in turn (make bench).
set -u
build=$1
for b in "$build"/bench/*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b" || echo "$(basename "$b") FAILED"
done
