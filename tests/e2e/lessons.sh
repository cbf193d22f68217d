#!/usr/bin/env bash
# End to end: every lesson in lessons/*/ is replayed in batch mode with its expect-...
# checks, in every language, and must pass them all.  Also: each lesson exists in English
# and Russian, `lectern FILE.lesson`, the language from LANG, `lesson NAME` read from stdin,
# a lesson whose check fails (exit status 1, a FAIL line naming file:line), a broken lesson
# (one error line with file:line) and `lesson list`.
# The lessons are replayed against models/default.safetensors and, when ../shared has it, the
# tiny GPT-2 (their checks are about structure, not one vocabulary's ids); with the default
# model, the numbers and words the narration quotes are checked on its screen too.
set -u
shared=${LECTERN_SHARED:-../shared}
model=$shared/models/gpt2-tiny
tok=$shared/tokenizers/gpt2
bin=${LECTERN_BIN:-bin/lectern}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# Every lesson in both languages, same file names (no model needed for this).
for f in lessons/en/*.lesson; do
    [ -f "lessons/ru/$(basename "$f")" ] || bad "$f has no Russian version"
done
for f in lessons/ru/*.lesson; do
    [ -f "lessons/en/$(basename "$f")" ] || bad "$f has no English version"
done
n_lessons=$(ls lessons/en/*.lesson 2>/dev/null | wc -l)
[ "$n_lessons" -ge 4 ] || bad "expected at least 4 lessons, found $n_lessons"

"$bin" -c "lesson list" > "$tmp/list" 2>&1 || bad "lesson list failed: $(cat "$tmp/list")"
grep -q '^  01-generation  *Autoregressive generation' "$tmp/list" || bad "lesson list: $(cat "$tmp/list")"
LANG=ru_RU.UTF-8 LC_ALL= "$bin" -c "lesson list" > "$tmp/list" 2>&1
grep -q '^lessons (ru)' "$tmp/list" || bad "LANG=ru_RU should list the Russian lessons: $(head -1 "$tmp/list")"
grep -q 'Авторегрессионная' "$tmp/list" || bad "the Russian list lacks the Russian titles"

# A broken lesson: one error line naming file:line, exit status 1.
printf 'title Broken\n\nexpect-contains x\n' > "$tmp/broken.lesson"
out=$("$bin" "$tmp/broken.lesson" 2>&1); st=$?
[ $st -eq 1 ] || bad "a broken lesson should exit 1, got $st"
[ "$out" = "error: $tmp/broken.lesson:3: expect-contains must follow a command (> COMMAND) or another check" ] \
    || bad "broken lesson message: $out"

# Every lesson is replayed against each model there is: models/default.safetensors (what
# `make run` opens and the lessons narrate) and the tiny GPT-2 of ../shared (random weights,
# GPT-2's vocabulary: the checks must not depend on one tokenizer).
runs=()
if [ -f models/default.safetensors ]; then runs+=(default)
else echo "SKIP: models/default.safetensors not found; the lessons are not replayed with it"; fi
if [ -d "$model" ] && [ -d "$tok" ]; then runs+=(tiny)
else echo "SKIP: $model or $tok not found; the lessons are not replayed with the tiny GPT-2"; fi
[ ${#runs[@]} -gt 0 ] || { echo "SKIP: lessons need models/default.safetensors or $model"; exit $fail; }
use_for() {
    case $1 in
        default) use=(-m models/default.safetensors) ;;
        tiny) use=(-m "$model" -t "$tok") ;;
    esac
}

for run in "${runs[@]}"; do
    use_for "$run"
    for f in lessons/*/*.lesson; do
        lang=$(basename "$(dirname "$f")")
        name=$(basename "$f" .lesson)
        out="$tmp/$run-$lang-$name"
        if "$bin" "${use[@]}" --lang "$lang" --lesson "$name" --batch > "$out" 2>&1; then
            grep -qE '^\((проверок пройдено: [0-9]+|[0-9]+ checks passed)\)$' "$out" \
                || bad "$f ($run model): no checks-passed line"
            grep -q "^══ $name" "$out" || bad "$f ($run model): the banner is missing"
        else
            bad "$f failed its replay on the $run model:"; grep -E '^(FAIL|error)' "$out" | head -20
        fi
    done
done
use_for "${runs[0]}"

# What the narration says about the default model is on its screen.  Each list is matched
# in order (a line matching the next pattern after the line that matched the one before),
# in the English and the Russian replay alike (they run the same commands).
in_order() {   # FILE PATTERN...: every pattern matches a line, in this order
    local file=$1; shift
    printf '%s\n' "$@" > "$tmp/patterns"
    awk 'NR == FNR { pat[++np] = $0; next }
         k < np && $0 ~ pat[k + 1] { k++ }
         END { if (k < np) { print pat[k + 1]; exit 1 } }' "$tmp/patterns" "$file"
}
claims() {   # NAME PATTERN...
    local name=$1; shift
    for lang in en ru; do
        local out="$tmp/default-$lang-$name"
        [ -f "$out" ] || continue
        missing=$(in_order "$out" "$@") || bad "lessons/$lang/$name.lesson on the default model: the narration quotes what the screen does not show: no line matching '$missing' (in order)"
    done
}
if [ "${runs[0]}" = default ]; then
    claims 01-generation \
        '^arch +GPT-2: 4 layers, 6 heads' '^vocab +1264 ' '^params .*\(2\.07M\)' \
        '^ 1 ␣She +0\.64[0-9][0-9] ' '^ 2 ␣One +0\.35[0-9][0-9] ' \
        '^step 12 ▸ ␣She ' '^step 13 ▸ ␣lived ' '^step 14 ▸ ␣in ' \
        '^ She had a friend named Olga\. Olga lost her cup\.$' \
        '^1 ␣She +0\.6440 .* 0\.7[6-8][0-9][0-9] ' \
        '^entropy 0\.9[0-9] bits model, [3-9]\.[0-9]+ bits after filtering' '^2 ␣One +0\.3539 .* 0\.3[0-9]+ ' \
        '^ She had a friend named [^ ]*(Нин|Вер|Лен|Ольг|Анн|Мари)' \
        '^6 ␣.* cut$' \
        'top-p 0\.9' '^1 ␣She .*0\.6[0-9]+ ' '^2 ␣One .*0\.3[0-9]+ ' '^3 ␣.* cut$' \
        '^step 12 ▸ ␣One p=0\.35' '^step 13 ▸ ␣day ' '^step 14 ▸ ␣she ' '^step 15 ▸ ␣met ' \
        'encodes as 5 tokens' \
        '^ маленькая девочка по имени [^ ]+\. Она жила в маленьком доме у парка\. Однажды она встретила нового друга' \
        '^12 tokens: 78 of 144 cells active'
    claims 02-attention \
        '4 layers, 6 heads' '^tokens · 25 \(25 prompt' \
        '^query 2 ␣a → key 1 ␣upon: weight 0\.94' '^query 9 ␣named → key 8 ␣girl: weight 0\.69' \
        '^query 11 \. → key 10 ␣Anna: weight 0\.66' \
        '^1 ␣Boris +0\.9[0-9]+ ' \
        '^query 24 ␣and → key 23 ␣Anna: weight 0\.98' '^query 24 ␣and → key 17 ␣Boris: weight 0\.9[12]' \
        '^ emb ' '^ 1 .*␣Boris +\.63$' '^ 2 .*␣Boris +\.74$' '^ 3 .*␣Boris +\.95$' '^ final .*␣Boris +\.91$' \
        '^25 tokens: 325 of 625 cells active'
    claims 03-sparse \
        '^19 tokens: 190 of 361 cells active' '^19 tokens: 54 of 361 cells active' \
        '^7 ␣little → 5 ␣was → 3 ␣time' \
        'sliding window w=5 causal; 1270 of 65536 cells active \(n = 256\)' 'full causal; 32896 of 65536 cells active' \
        '^19 tokens: 51 of 361 cells active' '^9 ␣named → 4 ␣there → 1 ␣upon' \
        '^19 tokens: 46 of 361 cells active' '^19 tokens: 85 of 361 cells active' \
        'after 2 layers: 11 of 19 ' \
        'KL\(exact \|\| approx\) 5\.[0-9]+ nats' '^  perplexity +1\.393 +1\.76[0-9] *$' '\(0\.447x the FLOPs\)'
    claims 04-lowrank \
        '^effective rank: 5 at 90% of the energy \(sum of squares\), 10 at 99%; full rank would be 19' \
        '^  perplexity +1\.393 +8\.[89][0-9]* *$' '^ +2 +␣time +0\.0029 +5\.[0-9]+' '^ +5 +␣a +0\.0008 +9\.[0-9]+' \
        '\(0\.8x the FLOPs\)' \
        'top-10 overlap 9/10' '^  perplexity +1\.393 +1\.8[23][0-9]* *$' '\(3\.2x the FLOPs\)' \
        'kernel synthesizer random' '^  perplexity +1\.393 +2\.[12][0-9]* *$'
fi

# lectern FILE.lesson runs it in batch mode; a lesson read from stdin (not a terminal) too.
"$bin" "${use[@]}" lessons/en/02-attention.lesson > "$tmp/out" 2>&1 || bad "lectern FILE.lesson failed"
grep -q 'checks passed' "$tmp/out" || bad "lectern FILE.lesson did not finish"
echo "lesson 02" | LANG=ru_RU.UTF-8 LC_ALL= "$bin" "${use[@]}" > "$tmp/out" 2>&1 || bad "lesson from stdin failed"
grep -q 'проверок пройдено' "$tmp/out" || bad "LANG=ru_RU should pick the Russian lesson"

# Without -m, `require model` finds a model by itself: models/default.safetensors first,
# else the tiny GPT-2; it shows the load it runs, and the lesson passes on what it found.
LECTERN_SHARED=$shared "$bin" --lesson 02 --batch > "$tmp/out" 2>&1 || bad "lesson 02 with the model require model found failed: $(grep -E '^(FAIL|error)' "$tmp/out" | head -3)"
if [ -f models/default.safetensors ]; then
    grep -q '^lectern> load "models/default.safetensors"' "$tmp/out" || bad "require model should load models/default.safetensors"
else
    grep -q '^lectern> load ' "$tmp/out" || bad "require model should show the load it runs"
fi
grep -q 'checks passed' "$tmp/out" || bad "require model found none"

# A check that fails fails the replay, with file:line; the rest of the lesson still runs.
cat > "$tmp/wrong.lesson" <<'EOF'
title A lesson that tells a lie
require model
The prompt below has three tokens.
> prompt The cat sat on the mat
expect-contains (3 prompt + 0 generated)
> tokens
expect-match \[The [0-9]+\]
EOF
out=$("$bin" "${use[@]}" --lesson "$tmp/wrong.lesson" --batch 2>&1); st=$?
[ $st -eq 1 ] || bad "a failing check should exit 1, got $st"
printf '%s\n' "$out" | grep -q "^FAIL $tmp/wrong.lesson:5: expect-contains \"(3 prompt + 0 generated)\"" \
    || bad "no FAIL line for the failing check: $out"
printf '%s\n' "$out" | grep -q '^lectern> tokens' || bad "the lesson should go on after a failed check"
printf '%s\n' "$out" | grep -q '^error: lesson wrong: 1 of 2 checks failed' || bad "summary line: $out"

exit $fail
