#!/usr/bin/env bash
# End to end: the workbench screen in a detached tmux pane of a fixed size.  Sends keys
# and commands, captures the pane and checks what a student would see: the heatmap's
# token labels and shades, the top-k bars, Cyrillic tokens at the right widths, history
# recall on the command line, pane keys, zoom and scroll of a long sequence, cells outside
# a sparse pattern, branching from a scrubbed step (view step, the strip's keys, the
# probabilities pane's candidates), the layout after a resize, the small-terminal message
# with a working command line, and a clean quit.
# NO_COLOR=1 makes the screen draw shade characters, so the capture shows the weights.
# Prints SKIP and exits 0 when tmux, the model or a working $LECTERN_BIN is missing.
set -u
shared=${LECTERN_SHARED:-../shared}
model=$shared/models/gpt2-tiny
tok=$shared/tokenizers/gpt2
bin=${LECTERN_BIN:-bin/lectern}

command -v tmux >/dev/null 2>&1 || { echo "SKIP: tmux_screen needs tmux"; exit 0; }
if [ ! -d "$model" ] || [ ! -d "$tok" ]; then
    echo "SKIP: tmux_screen needs $model and $tok"; exit 0
fi
if [ ! -x "$bin" ] || ! "$bin" --plain -c "load $model $tok" >/dev/null 2>&1; then
    echo "SKIP: tmux_screen: $bin cannot load $model"; exit 0
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
model=$(cd "$model" && pwd)
tok=$(cd "$tok" && pwd)

tmp=$(mktemp -d)
sock="lectern-test-$$"
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
# wait_for REGEX [SECONDS]: until the screen matches (grep -E), else fail
wait_for() {
    local re=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        screen | grep -qE -- "$re" && return 0
        sleep 0.1
    done
    fail "timed out waiting for: $re"
    return 1
}
# wait_gone REGEX: until no line of the screen matches
wait_gone() {
    local i
    for ((i = 0; i < 100; i++)); do
        screen | grep -qE -- "$1" || return 0
        sleep 0.1
    done
    fail "still on screen: $1"
}
expect() { screen | grep -qE -- "$1" || fail "$2 (no line matching: $1)"; }
expect_not() { ! screen | grep -qE -- "$1" || fail "$2 (a line matches: $1)"; }
send() { T send-keys -t t "$@"; }
cmd() { send -l -- "$1"; send Enter; }
# focus moves are confirmed by the key help line before more keys are sent
to_panes() { send Escape; wait_for '^arrows cursor · |^model view · arrows|^← → scrub|^↑ ↓' || true; }
to_repl() { send Escape; wait_for '^Esc/F6 panes · F5 step' || true; }

export LC_ALL=C.UTF-8
T new-session -d -s t -x 100 -y 35 \
    "env HOME='$tmp' XDG_STATE_HOME='$tmp/state' NO_COLOR=1 LC_ALL=C.UTF-8 '$bin'; echo LECTERN-EXIT=\$?; sleep 30"
T set-option -t t window-size manual >/dev/null 2>&1

wait_for '^lectern>' || exit 1
expect 'Esc/F6 panes' "the key help line is shown"
cmd "load $model $tok"
wait_for '^ model\.safetensors · causal mask · attention_forward' || exit 1
cmd "prompt Hello world, привет мир"
wait_for 'attention · layer 0 head 0 · causal mask' || exit 1

# the heatmap: query rows labelled with tokens, the first row all weight on itself
expect '^ 0 Hello +│@@· · ·' "first query row of the heatmap"
expect '^ 1 ␣world *│' "row label with a visible space"
expect '^keys → ' "key axis named"
expect 'linear scale 0 \[ \.:-=\+\*#%@\] 1; · = outside causal mask' "legend with the shades and the mask"
# every heatmap row has its separator in the same column: labels have the right widths,
# Cyrillic included
cols=$(screen | grep -E '^ ?[0-9]+ .*│' | grep -vE '^[0-9]+ [^│]*$' | while IFS= read -r l; do
    pre=${l%%│*}; echo "${#pre}"; done | sort -u | head -3)
[ "$(printf '%s\n' "$cols" | wc -l)" -eq 1 ] || fail "heatmap separators not aligned (columns: $cols)"
expect '^ ?[0-9]+ и +│' "a Cyrillic row label"
expect '\[␣мир\]|\[и\] \[р\]|\[и\]' "Cyrillic token chips in the strip"

# a longer context than the pane has rows: cells pooled into blocks, the pooling named
cmd "prompt The cat sat on the mat. The dog sat on the log. Привет, мир, как дела?"
wait_for 'blocks [0-9]+×[0-9]+, max' || true
expect '^ ?0-[0-9]+ *│' "pooled rows are labelled with their ranges"
cmd "prompt Hello world, привет мир"
wait_for '^ 0 Hello +│@@· · ·' || true

# the probabilities pane: top-k bars beside model and sampled probabilities
cmd "set top_k 3"
# the pane's header names the setting once the command has run (the bars below were there before)
wait_for 'top-k 3' || true
wait_for '│1 [^ ]+ +0\.[0-9]{4} [▏▎▍▌▋▊▉█]+ +0\.[0-9]{4} [▏▎▍▌▋▊▉█]' || true
expect '│4 [^ ]+ +0\.[0-9]{4} [▏▎▍▌▋▊▉█]+ +cut' "a token cut by top-k is marked"
expect 'top-k 3' "the sampler settings are on the pane"
cmd "step"
wait_for 'step [0-9]+ ▸ .*\(sampled\)' || true
expect 'tokens · [0-9]+ \([0-9]+ prompt \+ 1 generated\)' "the strip counts the generated token"

# gen streams its tokens into the output pane on one line, and the strip follows
cmd "gen 4"
wait_for 'tokens · [0-9]+ \([0-9]+ prompt \+ 5 generated\)' || true
expect '^lectern> gen 4$' "the command is echoed in the output pane"

# history recall: Up brings back the last line
cmd "view layer 1"
wait_for 'view: layer 1' || true
expect 'attention · layer 1 head 0' "view layer 1 switched the heatmap"
send Up
wait_for '^lectern> view layer 1 *$' || true
send C-u
wait_for '^lectern>\s*$' || true

# pane keys: Esc gives the panes focus, ] and } move layer and head, arrows the cursor
to_panes
send ']' '}'
wait_for 'attention · layer 0 head 1' || true
send Up Left
wait_for '^query [0-9]+ .* → key [0-9]+ .*: weight 0\.[0-9]+' || true
send m
wait_for 'model view · 2 layers × 4 heads' || true
send m
send f
wait_for '× = first token hidden, rows renormalised' || true
send f
wait_gone '× = first token hidden'
to_repl
cmd "view pane probs"
wait_for 'view: pane probs has focus' || true
wait_for '^← → scrub steps' || true
to_repl

# long sequences: zoom in to a token per cell, scroll with keys and with commands; what the
# window shows is stated (rows a-b, cols c-d of n, zoom), labels stay exact
cmd "prompt The cat sat on the mat. The dog sat on the log. Привет, мир, как дела?"
wait_for 'blocks [0-9]+×[0-9]+, max' || true
cmd "view pane attn"
wait_for '^arrows cursor · ' || true
send +
wait_for 'zoom 1: a token per cell' || true
expect 'rows [0-9]+-[0-9]+, cols [0-9]+-[0-9]+ of [0-9]+' "the zoomed window states its rows and columns"
expect '^[0-9]+ [^ ]+ *│' "zoomed rows are labelled with one token each"
send PPage PPage PPage
wait_for 'rows 0-[0-9]+, cols ' || true
expect '^ 0 The +│' "scrolled to the first query"
send '>'
wait_for 'cols [1-9][0-9]*-[0-9]+ of' || true
send z
wait_for 'blocks [0-9]+×[0-9]+, max' || true
expect_not 'zoom 1: a token per cell' "z returns to the whole matrix"
to_repl
cmd "view zoom 1"
wait_for 'view: zoom 1, a token per cell' || true
cmd "view scroll 5 2"
wait_for 'rows 5-[0-9]+, cols 2-[0-9]+ of' || true
expect '^ 5 ␣mat +│' "the window starts at query 5"
cmd "view zoom fit"
wait_for 'blocks [0-9]+×[0-9]+, max' || true

# sparse patterns: cells outside the window drawn as ░, apart from near-zero weights
cmd "prompt The cat sat on the mat and the dog sat on the log"
cmd "view layer 0"
cmd "pattern window w=3"
wait_for 'pattern sliding window w=3 causal' || true
expect '^ model\.safetensors · sliding window w=3 causal mask · attention_sparse' "the status names the layer's pattern and function"
expect '░ = outside the sparse pattern' "the legend names the pruned cells"
expect '^ ?[0-9]+ [^│]+│(░░)+[ .:=+*#%@-]' "a row: pruned cells, then the window's weights"
expect '^ ?[0-9]+ [^│]+│(░░)+[^░]*· ' "pruned cells left of the window, the causal mask right of it"
cmd "pattern off"
wait_for 'attention · layer 0 head [0-9] · causal mask' || true
expect_not '░' "no pruned cells without a pattern"

# branching from a scrubbed step: view step / the strip's arrows, then force, b, Enter
cmd "prompt Hello world"
cmd "step 4"
wait_for 'tokens · 6 \(2 prompt \+ 4 generated\)' || true
cmd "view step 3"
wait_for '^scrubbed back to position 3 of 6 · back, force, step, gen branch here' || true
cmd "force 13"
wait_for 'branching at the scrubbed position 3: dropped 3 tokens \(positions 3-5\)' || true
wait_for 'tokens · 4 \(2 prompt \+ 2 generated\)' || true
expect 'step 3 ▸ \. p=.*\(forced\)' "the forced token took position 3"
cmd "view pane tokens"
wait_for '^← → scrub steps' || true
send Left Left
wait_for '^scrubbed back to position 2 of 4' || true
send b
wait_for 'branching at the scrubbed position 2: dropped 2 tokens \(positions 2-3\)' || true
wait_for 'tokens · 2 \(2 prompt \+ 0 generated\)' || true
to_repl
cmd "step 2"
wait_for 'tokens · 4 \(2 prompt \+ 2 generated\)' || true
cmd "view pane probs"
wait_for '^← → scrub steps · End latest · ↑ ↓ pick' || true
send Left
wait_for '^scrubbed back to position 3 of 4' || true
send Down Down
wait_for '│2▸' || true
send Enter
wait_for '^lectern> force [0-9]+$' || true
wait_for 'branching at the scrubbed position 3: dropped its token' || true
wait_for 'tokens · 4 \(2 prompt \+ 2 generated\)' || true
expect 'step 3 ▸ .*\(forced\)' "Enter forced the picked candidate at position 3"
to_repl
# a new prompt ends the scrub: the position belonged to the old text
cmd "view step 2"
wait_for '^scrubbed back to position 2 of 4' || true
cmd "prompt Hello world, привет мир"
wait_for 'tokens · [0-9]+ \([0-9]+ prompt \+ 0 generated\)' || true
expect_not '^scrubbed back' "a new prompt follows the latest step again"

# resize: one column on a narrow terminal, the lens pane gone
T resize-window -t t -x 72 -y 26
wait_for '^next token · position' || true
expect_not '│next token' "narrow layout puts probabilities below the heatmap"
expect '^lectern>' "the command line stays at the bottom"
# too small: a message, and the command line still works
T resize-window -t t -x 50 -y 14
wait_for 'The terminal is 50×14; the workbench needs at' || true
cmd "text"
wait_for '^lectern> text' || true
expect '^lectern>\s*$' "command line after a command on a small terminal"
T resize-window -t t -x 100 -y 35
wait_for 'attention · layer 0 head 1 · causal mask' || true
expect '│logit lens' "the lens pane is back on a wide terminal"

# presenter mode: fewer panes
cmd "presenter on"
wait_for 'presenter on' || true
expect_not '│logit lens' "presenter mode hides the lens pane"
cmd "presenter off"

cmd "quit"
wait_for 'LECTERN-EXIT=0' || true

# colour: on a 256-colour terminal the heatmap cells are drawn as viridis backgrounds
# (xterm-256 indices), with no shade characters; NO_COLOR is unset here
T kill-session -t t >/dev/null 2>&1
T new-session -d -s c -x 100 -y 35 \
    "env -u NO_COLOR HOME='$tmp' XDG_STATE_HOME='$tmp/state' TERM=xterm-256color LC_ALL=C.UTF-8 '$bin' --model '$model' --tokenizer '$tok'; sleep 30"
ccap() { T capture-pane -e -p -t c; }
for ((i = 0; i < 100; i++)); do ccap | grep -q '^lectern>' && break; sleep 0.1; done
T send-keys -t c -l -- "prompt Hello world"; T send-keys -t c Enter
for ((i = 0; i < 100; i++)); do ccap | grep -q 'attention · layer 0 head 0' && break; sleep 0.1; done
ln=$(T capture-pane -p -t c | grep -n '^ *0 Hello' | head -1 | cut -d: -f1)
row=$(ccap | sed -n "${ln:-1}p")
case $row in
    *$'\e[48;5;'*) ;;
    *) echo "FAIL: no 256-colour cell backgrounds in the heatmap row: $(printf '%q' "$row")"; fails=$((fails + 1)) ;;
esac
T capture-pane -p -t c | grep -q '^ 0 Hello *│@@' && { echo "FAIL: shade characters drawn in colour mode"; fails=$((fails + 1)); }
# a pruned cell has its own ground (xterm 236), unlike any ramp colour
T send-keys -t c -l -- "prompt The cat sat on the mat"; T send-keys -t c Enter
T send-keys -t c -l -- "pattern window w=2"; T send-keys -t c Enter
for ((i = 0; i < 100; i++)); do ccap | grep -q 'pattern sliding window w=2' && break; sleep 0.1; done
ln=$(T capture-pane -p -t c | grep -n '^ *3 ␣on' | head -1 | cut -d: -f1)
row=$(ccap | sed -n "${ln:-1}p")
case $row in
    *$'48;5;236m░'*) ;;
    *) echo "FAIL: no pruned cell on its own ground: $(printf '%q' "$row")"; fails=$((fails + 1)) ;;
esac

if [ "$fails" -ne 0 ]; then
    echo "tmux_screen: $fails check(s) failed"
    exit 1
fi
echo "tmux_screen: all checks passed"
