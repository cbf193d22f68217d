#!/usr/bin/env bash
# End to end: the subcommands for scripts (logits, attention, generate, tokenize) against
# the nanoGPT oracles in ../shared/oracles/gpt2-tiny, plus their usage errors and exit codes.
set -u
shared=${LECTERN_SHARED:-../shared}
model=$shared/models/gpt2-tiny
tok=$shared/tokenizers/gpt2
oracle=$shared/oracles/gpt2-tiny
if [ ! -d "$model" ] || [ ! -d "$tok" ] || [ ! -d "$oracle" ]; then
    echo "SKIP: batch_subcmd needs $model, $tok and $oracle"; exit 0
fi
bin=${LECTERN_BIN:-bin/lectern}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# Compares two files of numbers (comments skipped) within an absolute tolerance.
close() {  # close GOT WANT TOL
    awk -v tol="$3" '
        FNR == 1 { f++ }
        /^#/ || /^[a-z]/ { next }
        f == 1 { got[++ng] = $0; next }
        { want[++nw] = $0 }
        END {
            if (ng != nw) { printf "%d rows, want %d\n", ng, nw; exit 1 }
            worst = 0
            for (r = 1; r <= nw; r++) {
                a = split(got[r], g, " "); b = split(want[r], w, " ")
                if (a != b) { printf "row %d: %d values, want %d\n", r, a, b; exit 1 }
                for (i = 1; i <= a; i++) { d = g[i] - w[i]; if (d < 0) d = -d; if (d > worst) worst = d }
            }
            if (worst > tol) { printf "max difference %g > %g\n", worst, tol; exit 1 }
        }' "$1" "$2"
}

ids=$(grep -v '^#' "$oracle/hello.ids" | tr ' ' ',')
"$bin" logits --model "$model" --tokenizer "$tok" --tokens "$ids" > "$tmp/logits" || bad "logits failed"
close "$tmp/logits" "$oracle/logits_hello.txt" 1e-4 || bad "logits differ from nanoGPT"
"$bin" logits --model "$model" --tokenizer "$tok" --text "Hello, my dog is cute and" > "$tmp/logits2" \
    || bad "logits --text failed"
cmp -s "$tmp/logits" "$tmp/logits2" || bad "logits --text differs from --tokens"

"$bin" attention --model "$model" --tokenizer "$tok" --tokens "$ids" --layer 0 --head 0 > "$tmp/attn" \
    || bad "attention failed"
close "$tmp/attn" "$oracle/attn_l0h0_hello.txt" 1e-5 || bad "attention differs from nanoGPT"

want=$(sed -n 's/^greedy //p' "$oracle/greedy_hello.txt")
got=$("$bin" generate --model "$model" --tokenizer "$tok" --prompt "Hello, my dog is cute and" \
      --steps 20 --temperature 0 --ids) || bad "generate failed"
[ "$got" = "$want" ] || bad "greedy ids '$got', want '$want'"
"$bin" generate --model "$model" --tokenizer "$tok" --prompt "Hello" --steps 5 --seed 3 > "$tmp/g1" 2> "$tmp/stats" \
    --stats || bad "generate --stats failed"
"$bin" generate --model "$model" --tokenizer "$tok" --prompt "Hello" --steps 5 --seed 3 > "$tmp/g2" || bad "generate failed"
cmp -s "$tmp/g1" "$tmp/g2" || bad "the same seed gave different text"
grep -Eq '^prefill 1 tok [0-9.]+ s \([0-9.]+ tok/s\), decode 5 tok [0-9.]+ s \([0-9.]+ tok/s\), peak RSS [0-9]+ MB$' "$tmp/stats" \
    || bad "stats line: $(cat "$tmp/stats")"

got=$("$bin" tokenize --tokenizer "$tok" "Dvořák") || bad "tokenize failed"
[ "$got" = "35 13038 129 247 6557 74" ] || bad "tokenize Dvořák: '$got'"
got=$(printf 'Hello, my dog is cute and' | "$bin" tokenize --model "$model" --tokenizer "$tok") || bad "tokenize stdin failed"
[ "$got" = "$(grep -v '^#' "$oracle/hello.ids")" ] || bad "tokenize from stdin: '$got'"
got=$(printf 'a\000b\377c' | "$bin" tokenize --tokenizer "$tok") || bad "tokenize of NUL and invalid UTF-8 failed"
[ "$(echo "$got" | wc -w)" -ge 4 ] || bad "NUL and invalid UTF-8 lost: '$got'"

# init: a random model of a named shape, a whole model (tokenizer in its metadata),
# the same bytes for the same seed
"$bin" init gpt2-tiny --out "$tmp/r1.safetensors" --seed 5 --tokenizer "$tok" > /dev/null || bad "init failed"
"$bin" init gpt2-tiny --out "$tmp/r2.safetensors" --seed 5 --tokenizer "$tok" > /dev/null || bad "init failed"
"$bin" init gpt2-tiny --out "$tmp/r3.safetensors" --seed 6 --tokenizer "$tok" > /dev/null || bad "init failed"
cmp -s "$tmp/r1.safetensors" "$tmp/r2.safetensors" || bad "init: the same seed wrote different files"
cmp -s "$tmp/r1.safetensors" "$tmp/r3.safetensors" && bad "init: different seeds wrote the same file"
got=$("$bin" generate --model "$tmp/r1.safetensors" --prompt "Hello" --steps 4 --ids) || bad "generate on an init model failed"
[ "$(echo "$got" | wc -w)" -eq 4 ] || bad "generate on an init model: '$got'"

# usage errors exit 2, failures 1, each with one line on stderr
expect() {  # expect STATUS ERROR-SUBSTRING CMD...
    local want=$1 msg=$2; shift 2
    "$@" > /dev/null 2> "$tmp/err"; local st=$?
    [ $st -eq "$want" ] || bad "$*: exit $st, want $want"
    [ "$(wc -l < "$tmp/err")" -eq 1 ] || bad "$*: stderr not one line: $(cat "$tmp/err")"
    grep -qF -- "$msg" "$tmp/err" || bad "$*: stderr '$(cat "$tmp/err")' lacks '$msg'"
}
expect 2 "--model PATH is required" "$bin" logits --tokens 1,2
expect 2 "exactly one of --tokens" "$bin" logits --model "$model"
expect 2 "--steps" "$bin" generate --model "$model" --prompt hi --steps many
expect 2 "unknown option --frob" "$bin" tokenize --frob
expect 2 "--layer" "$bin" attention --model "$model" --tokens 1 --layer 0 --head 0 --layer x
expect 2 "does not apply" "$bin" tokenize --tokenizer "$tok" --steps 3
expect 1 "not a list of ids" "$bin" logits --model "$model" --tokenizer "$tok" --tokens 1,x
expect 1 "not a list of ids" "$bin" logits --model "$model" --tokenizer "$tok" --tokens 99999999
expect 1 "layers of" "$bin" attention --model "$model" --tokenizer "$tok" --tokens 1 --layer 9 --head 0
expect 1 "$tmp/none" "$bin" logits --model "$tmp/none" --tokens 1
expect 1 "unknown model shape 'gpt3'" "$bin" init gpt3 --out "$tmp/x.safetensors"
expect 2 "--out FILE is required" "$bin" init gpt2-tiny
for s in logits generate tokenize attention init; do
    [ "$("$bin" $s --version)" = "$("$bin" --version)" ] || bad "$s --version"
    "$bin" $s --help | grep -q "^usage: lectern $s" || bad "$s --help"
done
exit $fail
