#!/usr/bin/env bash
# End to end: the ways to run commands without a prompt give the same output — stdin that
# is not a terminal, a script FILE, -c "cmd; cmd" — and `save session` replays.  Also
# --json (one object per command), exit statuses, --help and --version.
set -u
shared=${LECTERN_SHARED:-../shared}
model=$shared/models/gpt2-tiny
tok=$shared/tokenizers/gpt2
bin=${LECTERN_BIN:-bin/lectern}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$bin" --version | grep -qx 'lectern [0-9.]*' || bad "--version"
"$bin" --help | grep -q '^usage: lectern' || bad "--help"
"$bin" --frob > /dev/null 2>&1; [ $? -eq 2 ] || bad "an unknown option should exit 2"
echo "help" | "$bin" | grep -q '^  prompt TEXT' || bad "help through stdin"
out=$(echo "frob" | "$bin" 2>&1); st=$?
[ $st -eq 1 ] || bad "a failed command in batch mode should exit 1, got $st"
[ "$out" = "error: unknown command 'frob' (type help for the list)" ] || bad "error line: $out"
out=$("$bin" -c "set top_k 3; quit; set top_k 4" 2>&1) || bad "-c with quit failed"
[ "$out" = "top_k 3" ] || bad "quit should stop -c: $out"

if [ ! -d "$model" ] || [ ! -d "$tok" ]; then
    echo "SKIP: batch_cmdline model runs need $model and $tok"; exit $fail
fi
cmds=(
    "set seed 11"
    "load $model"
    "prompt It was a dark and stormy night\\n"
    "step 2"
    "gen 5"
    "back 3"
    "force 11"
    "probs 4"
    "tokens"
)
printf '%s\n' "${cmds[@]}" > "$tmp/script.lectern"
joined=$(printf '%s; ' "${cmds[@]}")
"$bin" --tokenizer "$tok" < "$tmp/script.lectern" > "$tmp/stdin.out" 2>&1 || bad "stdin run failed"
"$bin" --tokenizer "$tok" "$tmp/script.lectern" > "$tmp/file.out" 2>&1 || bad "FILE run failed"
"$bin" --tokenizer "$tok" -c "$joined" > "$tmp/c.out" 2>&1 || bad "-c run failed"
cmp -s "$tmp/stdin.out" "$tmp/file.out" || bad "FILE output differs from stdin output"
cmp -s "$tmp/stdin.out" "$tmp/c.out" || bad "-c output differs from stdin output"
grep -q "^loaded " "$tmp/stdin.out" || bad "no load line"

# MODEL as a positional argument, and --echo
"$bin" --echo --tokenizer "$tok" -c "prompt Hi; step" "$model" > "$tmp/pos.out" 2>&1 || bad "positional MODEL failed"
grep -q '^lectern> prompt Hi$' "$tmp/pos.out" || bad "--echo"

# save session, then replay it: the same state, so the same next steps
"$bin" --tokenizer "$tok" -c "$joined save session $tmp/saved.lectern; step 3; text" > "$tmp/a.out" 2>&1 \
    || bad "save session run failed"
grep -q "^set seed 42$" "$tmp/saved.lectern" || bad "the saved script does not start with the settings"
cp "$tmp/saved.lectern" "$tmp/replay.lectern"
printf 'step 3\ntext\n' >> "$tmp/replay.lectern"
"$bin" --tokenizer "$tok" "$tmp/replay.lectern" > "$tmp/b.out" 2>&1 || bad "replay failed"
[ "$(tail -n 5 "$tmp/a.out")" = "$(tail -n 5 "$tmp/b.out")" ] || bad "replay differs: $(diff "$tmp/a.out" "$tmp/b.out")"

# --json: one object per command, each ok; an error is an object too
"$bin" --json --tokenizer "$tok" -c "$joined attn 0 1; lens 2; frob" > "$tmp/json.out" 2>&1
st=$?
[ $st -eq 1 ] || bad "--json with a failed command should exit 1, got $st"
n=$(wc -l < "$tmp/json.out")
[ "$n" -eq $(( ${#cmds[@]} + 3 )) ] || bad "--json printed $n lines"
grep -vq '^{"cmd":' "$tmp/json.out" && bad "--json printed a line that is not an object"
[ "$(grep -c '"ok":true' "$tmp/json.out")" -eq $(( ${#cmds[@]} + 2 )) ] || bad "--json ok count"
tail -n 1 "$tmp/json.out" | grep -q '"ok":false,"error":"unknown command' || bad "--json error object"
if command -v python3 > /dev/null; then
    python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/json.out" \
        || bad "--json output is not JSON lines"
fi
exit $fail
