#!/usr/bin/env bash
# Fails when a file crosses the dependency rule engine <- viz <- repl:
# engine includes nothing from viz/ or repl/ and no terminal library; viz nothing from repl/.
set -u
bad=0
if grep -nE '#include *"(viz|repl)/|#include *<(n?curses|ncursesw/|readline/)' engine -r --include='*.[ch]'; then
    echo "dependency rule: engine/ must not include viz/, repl/ or terminal headers" >&2; bad=1
fi
if grep -nE '#include *"repl/|#include *<readline/' viz -r --include='*.[ch]'; then
    echo "dependency rule: viz/ must not include repl/ or readline" >&2; bad=1
fi
if grep -lE '\bmain *\(' engine viz -r --include='*.c'; then
    echo "dependency rule: only repl/ has main" >&2; bad=1
fi
exit $bad
