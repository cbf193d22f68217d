#!/usr/bin/env bash
# End to end: lectern loss against PyTorch's loss and gradient norms on the tiny GPT-2;
# corpus -> tokenizer train -> train -> loss on the trained model; a run stopped and
# resumed gives the same model file byte for byte as one that never stopped; Ctrl-C saves
# a checkpoint; usage errors and exit codes.
set -u
shared=${LECTERN_SHARED:-../shared}
bin=${LECTERN_BIN:-bin/lectern}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# --- lectern loss against the oracle (relative tolerances 1e-5 loss, 1e-4 norms)
model=$shared/models/gpt2-tiny
oracle=$shared/oracles/gpt2-tiny/loss_grad_rand40.txt
if [ -d "$model" ] && [ -f "$oracle" ]; then
    "$bin" loss --model "$model" --tokens "@$shared/oracles/gpt2-tiny/rand40.ids" --grad > "$tmp/loss" \
        || bad "loss --grad failed"
    awk 'FNR == 1 { f++ }
         f == 1 && /^(loss|grad_norm) / { got[$1 " " ($1 == "loss" ? "" : $2)] = $NF; n++ }
         f == 2 && /^(loss|grad_norm) / { want[$1 " " ($1 == "loss" ? "" : $2)] = $NF }
         END {
             if (n != 29) { printf "%d lines, want 29\n", n; exit 1 }
             for (k in want) {
                 if (!(k in got)) { printf "missing %s\n", k; exit 1 }
                 tol = (k ~ /^loss/) ? 1e-5 : 1e-4
                 d = got[k] - want[k]; if (d < 0) d = -d
                 if (d > tol * want[k]) { printf "%s: %s, PyTorch %s\n", k, got[k], want[k]; exit 1 }
             }
         }' "$tmp/loss" "$oracle" || bad "loss/grad norms differ from PyTorch"
    "$bin" loss --model "$model" --tokens "15496,11,616" > "$tmp/l2" || bad "loss with comma ids failed"
    grep -q '^loss [0-9.]*$' "$tmp/l2" || bad "loss output: $(cat "$tmp/l2")"
    "$bin" loss --model "$model" --tokens "15496" > /dev/null 2> "$tmp/err"
    [ $? -eq 1 ] && grep -q "two tokens" "$tmp/err" || bad "loss of one token: $(cat "$tmp/err")"
    "$bin" loss --model "$model" --tokens "1,x" > /dev/null 2> "$tmp/err"
    [ $? -eq 1 ] && grep -q "not a token id" "$tmp/err" || bad "bad ids: $(cat "$tmp/err")"
else
    echo "SKIP: loss oracle needs $model and $oracle"
fi

# --- corpus: reproducible, tasks as JSON lines
"$bin" corpus --seed 3 --count 300 > "$tmp/c1.txt" || bad "corpus failed"
"$bin" corpus --seed 3 --count 300 > "$tmp/c2.txt" || bad "corpus failed"
cmp -s "$tmp/c1.txt" "$tmp/c2.txt" || bad "corpus not reproducible"
[ "$(grep -c . "$tmp/c1.txt")" -eq 300 ] || bad "300 stories expected"
"$bin" corpus --seed 3 --count 4 --task translate | head -1 | grep -q '^{"input":"translate English to Russian: ' \
    || bad "translate task format"
"$bin" corpus --task poems > /dev/null 2> "$tmp/err"; [ $? -eq 2 ] || bad "unknown task should exit 2"
"$bin" corpus --lang de > /dev/null 2>&1; [ $? -eq 2 ] || bad "unknown language should exit 2"

# --- tokenizer train
"$bin" tokenizer train --data "$tmp/c1.txt" --vocab 600 --out "$tmp/tok" > "$tmp/tokout" || bad "tokenizer train failed"
[ -s "$tmp/tok/vocab.json" ] && [ -s "$tmp/tok/merges.txt" ] || bad "tokenizer files missing"
"$bin" tokenizer train --data /nonexistent --vocab 600 --out "$tmp/t2" > /dev/null 2>&1; [ $? -eq 1 ] || bad "missing data should exit 1"
"$bin" tokenizer train --data "$tmp/c1.txt" --vocab 10 --out "$tmp/t2" > /dev/null 2>&1; [ $? -eq 2 ] || bad "tiny vocab should exit 2"
"$bin" tokenizer > /dev/null 2>&1; [ $? -eq 2 ] || bad "tokenizer without train should exit 2"

# --- train: a straight run, and a run stopped at step 3 and resumed, give the same file
common=(--data "$tmp/c1.txt" --tokenizer "$tmp/tok" --config tiny --steps 6 --batch 2 --seq 32 --eval-every 3 --sample-every 3)
"$bin" train "${common[@]}" --out "$tmp/a.safetensors" --plot "$tmp/a.png" 2> "$tmp/a.log" || { bad "train failed"; cat "$tmp/a.log"; }
grep -q "val loss" "$tmp/a.log" || bad "no validation loss printed"
grep -q "sample:" "$tmp/a.log" || bad "no sample printed"
grep -q "tok/s" "$tmp/a.log" || bad "no throughput printed"
[ -s "$tmp/a.png" ] || bad "no PNG plot"
"$bin" train "${common[@]}" --out "$tmp/b.safetensors" --stop-at 3 2> "$tmp/b.log" || bad "stopped run failed"
grep -q "stopped at step 3" "$tmp/b.log" || bad "no stop message: $(tail -2 "$tmp/b.log")"
[ ! -e "$tmp/b.safetensors" ] || bad "a stopped run wrote the final model"
"$bin" train "${common[@]}" --out "$tmp/b.safetensors" --resume 2> "$tmp/b2.log" || { bad "resume failed"; cat "$tmp/b2.log"; }
grep -q "resuming .* at step 3" "$tmp/b2.log" || bad "no resume message"
cmp -s "$tmp/a.safetensors" "$tmp/b.safetensors" || bad "resumed run differs from the uninterrupted one"
"$bin" loss --model "$tmp/a.safetensors" --text "Anna went to the park." > "$tmp/l3" || bad "loss on the trained model failed"
grep -q '^loss ' "$tmp/l3" || bad "no loss from the trained model"

# resuming on other data is refused
head -n 200 "$tmp/c1.txt" > "$tmp/c3.txt"
"$bin" train --data "$tmp/c3.txt" --config tiny --steps 6 --out "$tmp/b.safetensors" --resume > /dev/null 2> "$tmp/err"
[ $? -eq 1 ] && grep -q "other data" "$tmp/err" || bad "resume on other data: $(cat "$tmp/err")"

# Ctrl-C: the step finishes, the checkpoint is written, the exit status says it failed
"$bin" train "${common[@]}" --steps 1000000 --eval-every 1000000 --out "$tmp/c.safetensors" 2> "$tmp/c.log" &
pid=$!
for _ in $(seq 100); do grep -q "training:" "$tmp/c.log" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
kill -INT $pid
wait $pid; rc=$?
[ $rc -eq 1 ] || bad "interrupted train exit status $rc, want 1"
grep -q "interrupted after step" "$tmp/c.log" || bad "no interrupt message: $(tail -2 "$tmp/c.log")"
[ -s "$tmp/c.safetensors.ckpt" ] || bad "no checkpoint after Ctrl-C"

# usage errors
"$bin" train > /dev/null 2>&1; [ $? -eq 2 ] || bad "train without options should exit 2"
"$bin" train --data "$tmp/c1.txt" --tokenizer "$tmp/tok" --config nonsense --steps 2 --out "$tmp/x" > /dev/null 2> "$tmp/err"
[ $? -eq 1 ] && grep -q "unknown config" "$tmp/err" || bad "unknown config: $(cat "$tmp/err")"
"$bin" train --data /nonexistent --config tiny --steps 2 --out "$tmp/x" > /dev/null 2> "$tmp/err"
[ $? -eq 1 ] && grep -q "/nonexistent" "$tmp/err" || bad "missing data: $(cat "$tmp/err")"
"$bin" train --data "$tmp/c1.txt" --config tiny --steps 0 --out "$tmp/x" > /dev/null 2>&1; [ $? -eq 2 ] || bad "--steps 0 should exit 2"
exit $fail
