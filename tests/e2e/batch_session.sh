#!/usr/bin/env bash
# End to end: a batch-mode session (commands on stdin, which is not a terminal) with the
# tiny GPT-2 — load, prompt, step, attn, set, probs, back, force, a failed load that keeps
# the model — compared with the transcript in batch_session.expected.
# To regenerate after an intended change: UPDATE=1 bash tests/e2e/batch_session.sh, then
# read the diff before committing it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
shared=${LECTERN_SHARED:-../shared}
model=$shared/models/gpt2-tiny
tok=$shared/tokenizers/gpt2
if [ ! -d "$model" ] || [ ! -d "$tok" ]; then
    echo "SKIP: batch_session needs $model and $tok"; exit 0
fi
bin=${LECTERN_BIN:-bin/lectern}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'not a safetensors file' > "$tmp/broken.safetensors"

"$bin" --tokenizer "$tok" > "$tmp/out" 2>&1 <<EOS
# a comment line does nothing
load $model
prompt Hello, my dog is cute and
set temperature 0
step 3
attn 0 0
set temperature 0.8
set top_k 5
probs 6
set seed 7
step 2
back 2
force " the"
tokens
load $tmp/broken.safetensors
probs 3
set top_p 0.5
probs 4
text
EOS
status=$?
sed -e "s|$tmp|TMP|g" -e "s|$shared|SHARED|g" "$tmp/out" > "$tmp/got"
echo "exit status $status" >> "$tmp/got"

if [ "${UPDATE:-0}" = 1 ]; then
    cp "$tmp/got" "$here/batch_session.expected"; echo "updated batch_session.expected"; exit 0
fi
diff -u "$here/batch_session.expected" "$tmp/got"
