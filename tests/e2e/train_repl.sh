#!/usr/bin/env bash
# End to end: the REPL's `train` command.  In batch mode (-c and a script on stdin) it trains
# a tiny model on the toy world with the subcommand's progress, losses, samples and plot,
# and --load makes the result the session's model; a bad word is one error line and exit
# status 1; Ctrl-C in batch mode saves the checkpoint and stops the script (status 130).
# At a real terminal (tmux, the plain prompt): Ctrl-C stops training, the checkpoint is
# saved, and the prompt comes back with the old model still answering.
set -u
bin=${LECTERN_BIN:-bin/lectern}
tmp=$(mktemp -d)
sock="lectern-train-$$"
T() { tmux -L "$sock" "$@"; }
cleanup() { command -v tmux >/dev/null 2>&1 && T kill-server >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
small="--data toyworld --stories 300 --vocab 300 --config tiny --batch 4 --seq 32 --threads 1 --seed 5"

# -c: train, load it, write with it
"$bin" -c "train $small --steps 40 --out $tmp/a.safetensors --load; prompt Once upon a time; gen 8; info" \
    > "$tmp/a.out" 2>&1 || { bad "batch train failed"; cat "$tmp/a.out"; }
for want in "step 1/40 loss" "val loss" "sample:" "(\* train, o val)" "done: 40 steps" \
            "^loaded $tmp/a.safetensors" "^model  *$tmp/a.safetensors" "vocab  *300 "; do
    grep -q -- "$want" "$tmp/a.out" || bad "batch train: no '$want' in: $(cat "$tmp/a.out")"
done
[ -s "$tmp/a.safetensors" ] && [ -s "$tmp/a.safetensors.ckpt" ] || bad "batch train wrote no model/checkpoint"

# a script on stdin; a failed train is one line, the run goes on and exits 1
printf '%s\n' "load $tmp/a.safetensors" "train --data $tmp/missing.txt --config tiny --steps 3 --out $tmp/x" \
    "train --data toyworld --config tiny --steps 3 --out $tmp/x --frob" "prompt Once" "info" > "$tmp/script"
"$bin" < "$tmp/script" > "$tmp/b.out" 2> "$tmp/b.err"; st=$?
[ $st -eq 1 ] || bad "a failed train in batch mode should exit 1, got $st"
[ "$(wc -l < "$tmp/b.err")" -eq 2 ] || bad "two failed trains should give two error lines: $(cat "$tmp/b.err")"
grep -q "^error: $tmp/missing.txt: No such file" "$tmp/b.err" || bad "missing data: $(cat "$tmp/b.err")"
grep -q "^error: unknown option '--frob' (help train)" "$tmp/b.err" || bad "bad flag: $(cat "$tmp/b.err")"
grep -q "^model  *$tmp/a.safetensors" "$tmp/b.out" || bad "the model should stay loaded: $(cat "$tmp/b.out")"

# Ctrl-C in batch mode: the checkpoint is saved and the script stops
"$bin" -c "train $small --steps 1000000 --eval-every 1000000 --out $tmp/c.safetensors; info" > "$tmp/c.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "^step 1/" "$tmp/c.out" 2>/dev/null && break; sleep 0.1; done
kill -INT $pid
wait $pid; st=$?
[ $st -eq 130 ] || bad "Ctrl-C in batch mode should exit 130, got $st"
grep -q "^\[interrupted after step [0-9]*; checkpoint $tmp/c.safetensors.ckpt" "$tmp/c.out" || bad "no interrupt line: $(tail -3 "$tmp/c.out")"
[ -s "$tmp/c.safetensors.ckpt" ] || bad "no checkpoint after Ctrl-C"
grep -q "^model " "$tmp/c.out" && bad "the script should stop after Ctrl-C"

# the plain prompt at a terminal: Ctrl-C returns to the prompt, the model answers
if ! command -v tmux >/dev/null 2>&1; then echo "SKIP: train_repl's terminal part needs tmux"; exit $fail; fi
abs=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
screen() { T capture-pane -p -t t; }
wait_for() {
    local i
    for ((i = 0; i < 150; i++)); do screen | grep -qE -- "$1" && return 0; sleep 0.1; done
    bad "timed out waiting for: $1"; echo "----- screen -----"; screen; return 1
}
for try in 1 2 3; do
    T new-session -d -s t -x 150 -y 40 \
        "cd '$tmp' && XDG_STATE_HOME='$tmp/state' TERM=xterm '$abs' --plain a.safetensors; sleep 5" \
        2>/dev/null && T has-session -t t 2>/dev/null && break
    sleep 0.5
done
wait_for "^lectern>" || exit 1
T send-keys -t t "prompt Once upon a time" Enter
T send-keys -t t "train $small --steps 1000000 --eval-every 1000000 --out d.safetensors" Enter
wait_for "^step +[0-9]+/1000000 \[\.+\] loss [0-9.]+ +lr [0-9.e+-]+ +[0-9]+ tok/s +ETA" || exit 1
sleep 0.5
T send-keys -t t C-c
wait_for "^\[interrupted after step [0-9]+; checkpoint d.safetensors.ckpt" || exit 1
[ -s "$tmp/d.safetensors.ckpt" ] || bad "no checkpoint after Ctrl-C at the prompt"
T send-keys -t t "info" Enter
wait_for "^model +a.safetensors" || exit 1
T send-keys -t t "quit" Enter
exit $fail
