#!/usr/bin/env bash
# End to end: every lesson in lessons/*/ is replayed in batch mode with its expect-...
# checks, in every language, and must pass them all.  Also: each lesson exists in English
# and Russian, `lectern FILE.lesson`, the language from LANG, `lesson NAME` read from stdin,
# a lesson whose check fails (exit status 1, a FAIL line naming file:line), a broken lesson
# (one error line with file:line) and `lesson list`.
# The lessons are checked against the tiny GPT-2 of ../shared when it is there (their checks
# are written for it); without it, against models/default.safetensors; with neither, SKIP.
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

if [ -d "$model" ] && [ -d "$tok" ]; then
    use=(-m "$model" -t "$tok")
elif [ -f models/default.safetensors ]; then
    use=()
    echo "SKIP: $model not found; replaying the lessons with models/default.safetensors"
else
    echo "SKIP: lessons need $model and $tok, or models/default.safetensors"; exit $fail
fi

for f in lessons/*/*.lesson; do
    lang=$(basename "$(dirname "$f")")
    name=$(basename "$f" .lesson)
    if "$bin" "${use[@]}" --lang "$lang" --lesson "$name" --batch > "$tmp/out" 2>&1; then
        grep -qE '^\((проверок пройдено: [0-9]+|[0-9]+ checks passed)\)$' "$tmp/out" \
            || bad "$f: no checks-passed line"
        grep -q "^══ $name" "$tmp/out" || bad "$f: the banner is missing"
    else
        bad "$f failed its replay:"; grep -E '^(FAIL|error)' "$tmp/out" | head -20
    fi
done

# lectern FILE.lesson runs it in batch mode; a lesson read from stdin (not a terminal) too.
"$bin" "${use[@]}" lessons/en/02-attention.lesson > "$tmp/out" 2>&1 || bad "lectern FILE.lesson failed"
grep -q 'checks passed' "$tmp/out" || bad "lectern FILE.lesson did not finish"
echo "lesson 02" | LANG=ru_RU.UTF-8 LC_ALL= "$bin" "${use[@]}" > "$tmp/out" 2>&1 || bad "lesson from stdin failed"
grep -q 'проверок пройдено' "$tmp/out" || bad "LANG=ru_RU should pick the Russian lesson"

# Without -m, `require model` finds a model by itself: models/default.safetensors first,
# else the tiny GPT-2.  The lessons' checks quote the tiny GPT-2's tokens, so with the
# default model (another tokenizer) they do not all pass yet: here only the finding and
# loading are checked; the full replays above pin the tiny GPT-2.
if [ ${#use[@]} -gt 0 ]; then
    LECTERN_SHARED=$shared "$bin" --lesson 02 --batch > "$tmp/out" 2>&1
    if [ -f models/default.safetensors ]; then
        grep -q '^loaded models/default.safetensors' "$tmp/out" || bad "require model should load models/default.safetensors"
    else
        grep -q 'checks passed' "$tmp/out" || bad "require model found none"
    fi
    grep -q '^lectern> load ' "$tmp/out" || bad "require model should show the load it runs"
fi

# A check that fails fails the replay, with file:line; the rest of the lesson still runs.
cat > "$tmp/wrong.lesson" <<'EOF'
title A lesson that tells a lie
require model
The prompt below has three tokens.
> prompt The cat sat on the mat
expect-contains (3 prompt + 0 generated)
> tokens
expect-contains [The 464]
EOF
out=$("$bin" "${use[@]}" --lesson "$tmp/wrong.lesson" --batch 2>&1); st=$?
[ $st -eq 1 ] || bad "a failing check should exit 1, got $st"
printf '%s\n' "$out" | grep -q "^FAIL $tmp/wrong.lesson:5: expect-contains \"(3 prompt + 0 generated)\"" \
    || bad "no FAIL line for the failing check: $out"
printf '%s\n' "$out" | grep -q '^lectern> tokens' || bad "the lesson should go on after a failed check"
printf '%s\n' "$out" | grep -q '^error: lesson wrong: 1 of 2 checks failed' || bad "summary line: $out"

exit $fail
