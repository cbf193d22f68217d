#!/usr/bin/env bash
# Builds each tests/fuzz/fuzz_*.c as a libFuzzer target (clang) against the engine sources
# and runs it for a few seconds.  Fails on any crash.
set -eu
secs=$1; shift
command -v clang >/dev/null || { echo "fuzz: SKIP (clang not installed)"; exit 0; }
out=build-fuzz; mkdir -p "$out"
cflags="-std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined $(pkg-config --cflags gsl jansson libpcre2-8)"
libs="-lgsl -lopenblas $(pkg-config --libs jansson libpcre2-8) -lm -fopenmp"
engine=$(ls engine/*.c engine/*/*.c 2>/dev/null || true)  # no engine/*/*.c yet: ls fails
for f in "$@"; do
    name=$(basename "$f" .c)
    clang $cflags -fopenmp -o "$out/$name" "$f" $engine $libs
    corpus="$out/corpus-$name"; mkdir -p "$corpus"
    [ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null || true
    echo "fuzz: $name for ${secs}s"
    "$out/$name" -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=0 "$corpus" >"$out/$name.log" 2>&1 || {
        tail -40 "$out/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
    grep -E '^#[0-9]+ *DONE' "$out/$name.log" || tail -2 "$out/$name.log"
done
