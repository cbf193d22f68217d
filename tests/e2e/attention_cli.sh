#!/usr/bin/env bash
# End to end: `lectern pattern` and `lectern kernel` against ../shared/oracles/attention —
# DeepSpeed block layouts (deterministic cases exactly; BigBird random cases by structure:
# window and global blocks exact, at most random_blocks_per_row extra blocks per row, the
# same seed gives the same layout), HF Longformer token masks exactly, and the kernel
# outputs of kernel_attention_small.txt within float32 tolerance.  Also the token-level
# patterns' own rules and the usage errors and exit codes.
set -u
shared=${LECTERN_SHARED:-../shared}
oracle=$shared/oracles/attention
if [ ! -f "$oracle/sparse_layouts.txt" ] || [ ! -f "$oracle/longformer_masks.txt" ] \
   || [ ! -f "$oracle/kernel_attention_small.txt" ]; then
    echo "SKIP: attention_cli needs $oracle (sparse_layouts, longformer_masks, kernel_attention_small)"
    exit 0
fi
bin=${LECTERN_BIN:-bin/lectern}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# Splits an oracle file into one directory per case under DIR: `meta` (the key value lines)
# and one file per matrix (`matrix` for the 0/1 rows after `layout` or `mask`; in numeric
# files, NAME for the rows after a `NAME ROWS COLS` header).
split_cases() {  # split_cases FILE DIR [numeric]
    awk -v out="$2" -v numeric="${3:-}" '
        /^#/ || /^[ \t]*$/ { next }
        $1 == "case" { dir = out "/" $2; system("mkdir -p \"" dir "\""); left = 0; next }
        $1 == "end" { if (file) close(file); close(dir "/meta"); file = ""; left = 0; next }
        left > 0 { print > file; left--; next }
        ($1 == "layout" || $1 == "mask") && NF == 1 { file = dir "/matrix"; left = 1e9; next }
        numeric && NF == 3 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ {
            if (file) close(file)
            file = dir "/" $1; left = $2; printf "" > file; next
        }
        { print > (dir "/meta") }' "$1"
}
# Numbers in GOT within |got - want| <= ABS + REL |want| of WANT, same shape.
close_to() {  # close_to GOT WANT ABS REL
    awk -v abs="$3" -v rel="$4" '
        FNR == 1 { f++ }
        f == 1 { got[++ng] = $0; next }
        { want[++nw] = $0 }
        END {
            if (ng != nw) { printf "%d rows, want %d\n", ng, nw; exit 1 }
            for (r = 1; r <= nw; r++) {
                a = split(got[r], g, " "); b = split(want[r], w, " ")
                if (a != b) { printf "row %d: %d values, want %d\n", r, a, b; exit 1 }
                for (i = 1; i <= a; i++) {
                    d = g[i] - w[i]; if (d < 0) d = -d
                    m = w[i] < 0 ? -w[i] : w[i]
                    if (d > abs + rel * m) { printf "row %d col %d: %s, want %s\n", r, i, g[i], w[i]; exit 1 }
                }
            }
        }' "$1" "$2"
}
meta() { sed -n "s/^$2 //p" "$1/meta"; }

# --- DeepSpeed layouts ---
split_cases "$oracle/sparse_layouts.txt" "$tmp/ds"
nds=0
for d in "$tmp"/ds/*/; do
    d=${d%/}; name=$(basename "$d")
    cls=$(meta "$d" class); params=$(meta "$d" params); seq=$(meta "$d" seq_len)
    seed=$(meta "$d" seed); per_row=$(meta "$d" random_blocks_per_row)
    # shellcheck disable=SC2086  # params are separate name=value words
    "$bin" pattern deepspeed --class "$cls" --seq-len "$seq" ${seed:+--seed "$seed"} $params \
        > "$tmp/got" 2> "$tmp/err" || { bad "$name: exit $?: $(cat "$tmp/err")"; continue; }
    nds=$((nds + 1))
    if [ -z "$seed" ]; then
        cmp -s "$tmp/got" "$d/matrix" || bad "$name: layout differs from DeepSpeed's"
        continue
    fi
    # random blocks: the layout without them, exactly; then at most per_row extra blocks
    base_params=$(printf '%s\n' $params | sed 's/^num_random_blocks=.*/num_random_blocks=0/' | tr '\n' ' ')
    # shellcheck disable=SC2086
    "$bin" pattern deepspeed --class "$cls" --seq-len "$seq" $base_params > "$tmp/base" \
        || { bad "$name: no-random layout failed"; continue; }
    # shellcheck disable=SC2086
    "$bin" pattern deepspeed --class "$cls" --seq-len "$seq" --seed "$seed" $params > "$tmp/again"
    cmp -s "$tmp/got" "$tmp/again" || bad "$name: the same seed gave a different layout"
    # shellcheck disable=SC2086
    "$bin" pattern deepspeed --class "$cls" --seq-len "$seq" --seed $((seed + 17)) $params > "$tmp/other"
    cmp -s "$tmp/got" "$tmp/other" && bad "$name: seeds $seed and $((seed + 17)) gave the same layout"
    # DeepSpeed's own layout must fit the same structure: that checks our no-random layout
    for lay in "$d/matrix" "$tmp/got"; do
        awk -v r="$per_row" 'FNR == 1 { f++ }
            f == 1 { base[FNR] = $0; nb = FNR; next }
            {
                if (length($0) != length(base[FNR])) { print "row " FNR ": width differs"; failed = 1; exit 1 }
                extra = 0
                for (i = 1; i <= length($0); i++) {
                    b = substr(base[FNR], i, 1); g = substr($0, i, 1)
                    if (b == "1" && g == "0") { print "row " FNR ": lacks a window/global block"; failed = 1; exit 1 }
                    extra += (b == "0" && g == "1"); any += (b == "0" && g == "1")
                }
                if (extra > r) { print "row " FNR ": " extra " random blocks > " r; failed = 1; exit 1 }
            }
            END { if (failed) exit 1; if (FNR != nb) { print "rows differ"; exit 1 } if (!any) { print "no random block"; exit 1 } }' \
            "$tmp/base" "$lay" > "$tmp/why" || bad "$name: $( [ "$lay" = "$tmp/got" ] && echo our || echo "DeepSpeed's") layout: $(cat "$tmp/why")"
    done
done
[ "$nds" -ge 15 ] || bad "only $nds DeepSpeed cases ran"
# the token-level form is kron(layout, ones(block, block))
"$bin" pattern deepspeed --class Fixed --seq-len 32 block=4 --tokens > "$tmp/tok" || bad "deepspeed --tokens failed"
"$bin" pattern deepspeed --class Fixed --seq-len 32 block=4 > "$tmp/lay"
awk '{ row = ""; for (i = 1; i <= length($0); i++) { c = substr($0, i, 1); row = row c c c c }
       for (k = 0; k < 4; k++) print row }' "$tmp/lay" | cmp -s - "$tmp/tok" \
    || bad "deepspeed --tokens is not the layout expanded by blocks of 4"

# --- Longformer masks ---
split_cases "$oracle/longformer_masks.txt" "$tmp/lf"
nlf=0
for d in "$tmp"/lf/*/; do
    d=${d%/}; name=$(basename "$d")
    n=$(meta "$d" seq_len); w=$(meta "$d" attention_window); g=$(meta "$d" global)
    glist=$( [ "$g" = "-" ] || [ -z "$g" ] || echo "$g" | tr ' ' ',')
    "$bin" pattern longformer --n "$n" --window "$w" ${glist:+--global "$glist"} > "$tmp/got" 2> "$tmp/err" \
        || { bad "$name: exit $?: $(cat "$tmp/err")"; continue; }
    cmp -s "$tmp/got" "$d/matrix" || bad "$name: mask differs from HF Longformer's"
    # the generic form with w= and g= is the same pattern
    "$bin" pattern longformer --n "$n" "w=$w" ${glist:+"g=$glist"} > "$tmp/got2" || bad "$name: w= form failed"
    cmp -s "$tmp/got" "$tmp/got2" || bad "$name: --window and w= forms differ"
    nlf=$((nlf + 1))
done
[ "$nlf" -ge 3 ] || bad "only $nlf Longformer cases ran"

# --- kernel outputs ---
split_cases "$oracle/kernel_attention_small.txt" "$tmp/ka" numeric
nka=0
for d in "$tmp"/ka/*/; do
    d=${d%/}; name=$(basename "$d")
    for m in exact_bi exact_causal favor_bi favor_causal elu_bi elu_causal linformer_bi; do
        [ -f "$d/$m" ] || { bad "$name: the oracle has no $m"; continue; }
        "$bin" kernel "$m" --in "$oracle/kernel_attention_small.txt" --case "$name" > "$tmp/got" 2> "$tmp/err" \
            || { bad "$name $m: exit $?: $(cat "$tmp/err")"; continue; }
        # float32 arithmetic against float64 references: |got - want| <= 1e-5 + 1e-4 |want|
        close_to "$tmp/got" "$d/$m" 1e-5 1e-4 > "$tmp/why" || bad "$name $m: $(cat "$tmp/why")"
        nka=$((nka + 1))
    done
done
[ "$nka" -ge 14 ] || bad "only $nka kernel outputs compared"

# --- token-level patterns: their defining rules ---
"$bin" pattern window --n 9 w=4 > "$tmp/w" || bad "window failed"
awk 'BEGIN { for (i = 0; i < 9; i++) { r = ""; for (j = 0; j < 9; j++) r = r ((i - j <= 2 && j - i <= 2) ? 1 : 0); print r } }' \
    | cmp -s - "$tmp/w" || bad "window w=4 is not |i-j| <= 2"
"$bin" pattern window --n 9 w=4 --causal > "$tmp/wc" || bad "causal window failed"
awk 'BEGIN { for (i = 0; i < 9; i++) { r = ""; for (j = 0; j < 9; j++) r = r ((i - j >= 0 && i - j < 4) ? 1 : 0); print r } }' \
    | cmp -s - "$tmp/wc" || bad "causal window w=4 is not the last 4 keys"
"$bin" pattern random --n 40 r=3 --seed 5 > "$tmp/r1" || bad "random failed"
"$bin" pattern random --n 40 r=3 --seed 5 > "$tmp/r2"
"$bin" pattern random --n 40 r=3 seed=6 > "$tmp/r3"
cmp -s "$tmp/r1" "$tmp/r2" || bad "random: the same seed gave different patterns"
cmp -s "$tmp/r1" "$tmp/r3" && bad "random: seeds 5 and 6 gave the same pattern"
awk '{ n = gsub(/1/, "1"); if (n != 3) { print "row " NR ": " n " keys"; bad = 1 } } END { exit bad }' "$tmp/r1" \
    || bad "random r=3: a row without exactly 3 keys"
"$bin" pattern bigbird --n 24 w=4 g=0,11 r=2 --seed 3 > "$tmp/bb" || bad "bigbird failed"
awk -v n=24 '{
        i = NR - 1
        if (i == 0 || i == 11) { if (gsub(/1/, "1") != n) bad = "global row " i; next }
        extra = 0
        for (j = 0; j < n; j++) {
            c = substr($0, j + 1, 1); base = (i - j <= 2 && j - i <= 2) || j == 0 || j == 11
            if (base && c != "1") bad = "row " i " lacks a window/global key"
            extra += (!base && c == "1")
        }
        if (extra != 2) bad = "row " i ": " extra " random keys"
    } END { if (bad) { print bad; exit 1 } }' "$tmp/bb" > "$tmp/why" || bad "bigbird: $(cat "$tmp/why")"
"$bin" pattern window --n 6 "w=3:5" > "$tmp/l0" && "$bin" pattern window --n 6 w=3 > "$tmp/l0b" \
    && cmp -s "$tmp/l0" "$tmp/l0b" || bad "per-layer list: layer 0 should take the first value"

# --- usage errors and exit codes ---
expect() {  # expect STATUS WHAT -- ARGS...
    local want=$1 what=$2; shift 3
    "$bin" "$@" > "$tmp/out" 2> "$tmp/err"; local rc=$?
    [ "$rc" = "$want" ] || bad "$what: exit $rc, want $want ($(cat "$tmp/err"))"
    if [ "$want" != 0 ]; then
        [ "$(wc -l < "$tmp/err")" = 1 ] || bad "$what: want one error line, got: $(cat "$tmp/err")"
        [ -s "$tmp/out" ] && bad "$what: printed on stdout too"
    fi
}
expect 0 "pattern --help" -- pattern --help
grep -q "lectern pattern NAME --n N" "$tmp/out" || bad "pattern --help lacks the usage"
expect 0 "kernel --help" -- kernel --help
grep -q "favor_causal" "$tmp/out" || bad "kernel --help lacks the methods"
expect 2 "no pattern name" -- pattern --n 4
expect 2 "no --n" -- pattern window w=2
expect 2 "bad --n" -- pattern window --n 0 w=2
expect 2 "unknown option" -- pattern window --n 4 --bogus
expect 1 "unknown pattern" -- pattern nosuch --n 4
expect 1 "bad parameter" -- pattern window --n 4 w=0
expect 1 "lsh without vectors" -- pattern lsh --n 8
expect 2 "deepspeed without --seq-len" -- pattern deepspeed --class Fixed
expect 1 "deepspeed bad class" -- pattern deepspeed --class Nope --seq-len 64
expect 1 "deepspeed block not dividing" -- pattern deepspeed --class Fixed --seq-len 70
expect 1 "longformer odd window" -- pattern longformer --n 8 --window 3
expect 2 "longformer bad --global" -- pattern longformer --n 8 --window 2 --global 1,x
expect 2 "kernel without --case" -- kernel exact_bi --in "$oracle/kernel_attention_small.txt"
expect 2 "kernel with --n" -- kernel exact_bi --n 3 --in x --case y
expect 1 "kernel unknown method" -- kernel nope --in "$oracle/kernel_attention_small.txt" --case n6_d4_dv3_m8_k3
expect 1 "kernel unknown case" -- kernel exact_bi --in "$oracle/kernel_attention_small.txt" --case nope
expect 1 "kernel missing file" -- kernel exact_bi --in "$tmp/none.txt" --case a
printf 'case a\nn 2\nQ 2 2\n1 2\n' > "$tmp/trunc.txt"
expect 1 "kernel truncated file" -- kernel exact_bi --in "$tmp/trunc.txt" --case a

[ $fail = 0 ] && echo "attention_cli: $nds DeepSpeed layouts, $nlf Longformer masks, $nka kernel outputs match"
exit $fail
