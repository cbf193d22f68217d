#!/usr/bin/env bash
# End to end: a lesson at a real terminal (a detached tmux pane), in the plain prompt and in
# the full screen.  `lectern --lesson FILE` waits before the first part, and Enter on an
# empty line moves to the next part, up to the end; `lesson`, `lesson prev` and
# `lesson stop` work from the prompt.  The lessons need no model (their commands are `set`).
# Prints SKIP and exits 0 when tmux is missing.
set -u
bin=${LECTERN_BIN:-bin/lectern}
command -v tmux >/dev/null 2>&1 || { echo "SKIP: lesson_tmux needs tmux"; exit 0; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d)
sock="lectern-lesson-$$"
T() { tmux -L "$sock" "$@"; }
cleanup() { T kill-server >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT
fails=0
screen() { T capture-pane -p -t t; }
fail() {
    echo "FAIL: $1"
    echo "----- screen -----"; screen; echo "------------------"
    fails=$((fails + 1))
}
wait_for() {
    local i
    for ((i = 0; i < 100; i++)); do
        screen | grep -qE -- "$1" && return 0
        sleep 0.1
    done
    fail "timed out waiting for: $1"
    return 1
}
send() { T send-keys -t t "$@"; }

printf '%s\n' "title Two parts" "The first part says alpha." "> set top_k 3" \
    "expect-contains top_k 3" "pause" "The second part says omega." "> set top_k 4" > "$tmp/two.lesson"
printf '%s\n' "Part one here." "pause" "Part two here." "pause" "Part three here." > "$tmp/three.lesson"

for mode in plain screen; do
    opt=--plain
    [ $mode = screen ] && opt=
    T kill-server >/dev/null 2>&1
    # XDG_STATE_HOME keeps the test's history out of the user's
    for try in 1 2 3; do   # a busy machine can lose a fresh tmux server; try again
        T new-session -d -s t -x 100 -y 40 \
            "cd '$tmp' && XDG_STATE_HOME='$tmp/state' NO_COLOR=1 TERM=xterm '$bin' $opt --lesson '$tmp/two.lesson'; sleep 5" \
            2>/dev/null && T has-session -t t 2>/dev/null && break
        sleep 0.5
    done
    wait_for "Press Enter to begin" || continue
    send Enter
    wait_for "part 1 of 2" || continue
    # the screen's output pane shows only the last few lines of a part
    [ $mode = plain ] && { screen | grep -q "The first part says alpha" || fail "$mode: part 1 narration missing"; }
    screen | grep -q "The second part" && fail "$mode: part 2 shown before Enter"
    send "lesson" Enter
    wait_for "lesson two: part 2 of 2 next"
    send Enter
    wait_for "end of lesson two" || continue
    [ $mode = plain ] && { screen | grep -q "The second part says omega" || fail "$mode: part 2 narration missing"; }
    # prev and stop from the prompt
    send "lesson $tmp/three.lesson" Enter
    wait_for "part 1 of 3"
    send Enter
    wait_for "part 2 of 3"
    screen | grep -q "Part two here" || fail "$mode: part 2 narration missing"
    send "lesson prev" Enter
    sleep 1
    last=$(screen | grep -E "part [0-9] of 3" | tail -1)
    case $last in *"part 1 of 3"*) ;; *) fail "$mode: lesson prev should show part 1 again: $last" ;; esac
    # the last part narration on screen is part one's again
    last=$(screen | grep -E "Part (one|two) here" | tail -1)
    [ "$last" = "Part one here." ] || fail "$mode: part 1 narration after prev: $last"
    send "lesson stop" Enter
    wait_for "stopped lesson three before part 2 of 3"
    send "quit" Enter
    sleep 0.3
done
[ $fails -eq 0 ] || exit 1
