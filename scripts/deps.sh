#!/usr/bin/env bash
# Checks that the system libraries and tools Lectern builds and tests with are present.
# On Debian/Ubuntu it installs what is missing with apt-get (through sudo when not root);
# elsewhere it prints the packages to install and stops.  When everything is present it
# does no install work at all (a second `make run` is quiet).
set -u
quiet=0; [ "${1:-}" = "--quiet" ] && quiet=1

missing=()   # Debian package names
have_pc() { pkg-config --exists "$1" 2>/dev/null; }
have_hdr() { [ -f "/usr/include/$1" ] || ls /usr/include/*/"$1" >/dev/null 2>&1; }

command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
have_pc ncursesw     || missing+=(libncurses-dev)
have_hdr readline/readline.h || missing+=(libreadline-dev)
have_pc gsl          || missing+=(libgsl-dev)
# OpenBLAS is GSL's CBLAS here, in its OpenMP build: Lectern's own loops use OpenMP, and one
# thread pool for both keeps the two from fighting over the cores (see the Makefile).
{ ls /usr/lib/*/openblas-openmp/libopenblas.so >/dev/null 2>&1 || ls /usr/lib/libopenblas.so >/dev/null 2>&1; } \
                     || missing+=(libopenblas-openmp-dev)
have_pc check        || missing+=(check)
have_pc libpcre2-8   || missing+=(libpcre2-dev)
have_pc jansson      || missing+=(libjansson-dev)
have_pc cairo        || missing+=(libcairo2-dev)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
# fonts with Cyrillic for figure export
fc-list 2>/dev/null | grep -qi 'DejaVuSans' || missing+=(fonts-dejavu-core)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null && \
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
        echo "deps: apt-get failed; install by hand: ${missing[*]}" >&2; exit 1; }
    exit 0
fi
echo "deps: missing system packages (Debian names): ${missing[*]}" >&2
echo "deps: install the equivalents for your system, then run make again." >&2
exit 1
