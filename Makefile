# Lectern — one non-recursive Makefile.
# `make run` and `make check` are the two commands a newcomer types; both run the deps
# step first (scripts/deps.sh), which installs missing Debian packages and otherwise
# does nothing.  Sources are found by wildcard, so a new engine/viz/repl file or a new
# tests/check_*.c suite needs no edit here.

# The deps step runs here, while the Makefile is read, not only as a prerequisite: the flags
# below come from pkg-config and from where the OpenBLAS build lives, and on a fresh machine
# they must see the packages the step installs (as a prerequisite it would run too late,
# after they were computed).  Not for clean or deps itself.
ifeq ($(filter clean deps,$(MAKECMDGOALS)),)
ifneq ($(shell bash scripts/deps.sh --quiet >&2; echo $$?),0)
$(error the deps step failed: see the message above, or run make deps)
endif
endif

CC      ?= cc
BUILD   ?= build
BIN     := bin
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wcast-qual -Wwrite-strings -Wno-unused-parameter
# x86-64-v3 (AVX2, FMA) where the CPU has it: fast kernels, and still an instruction set
# valgrind understands (-march=native would emit AVX-512 here, which callgrind cannot run).
ARCH    ?= $(shell [ "$$(uname -m)" = x86_64 ] && { grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && echo -march=x86-64-v3 || echo -march=x86-64-v2; })
OPT     ?= -O3 $(ARCH) -g
PKGS    := ncursesw readline check libpcre2-8 jansson cairo
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) gsl 2>/dev/null)
CFLAGS  += -std=c11 -D_GNU_SOURCE -DLECTERN_VERSION='"$(VERSION)"' $(OPT) $(WARN) \
           -fopenmp -MMD -MP -I. $(PKG_CFLAGS) $(EXTRA_CFLAGS)
# GSL's BLAS calls go to OpenBLAS (not libgslcblas), so gsl_blas_sgemm runs its kernels.
# Its OpenMP build, named explicitly (Debian's alternatives may point libopenblas.so.0 at the
# pthreads build): with two thread pools, OpenBLAS's threads still spinning after a product
# took the cores from OpenMP's and two-thread prefill ran 5x slower than one thread.
OPENBLAS_DIR ?= $(firstword $(wildcard /usr/lib/*/openblas-openmp))
comma := ,
OPENBLAS_LIB := $(if $(OPENBLAS_DIR),-L$(OPENBLAS_DIR) -Wl$(comma)-rpath$(comma)$(OPENBLAS_DIR)) -lopenblas
ENGINE_LIBS := -lgsl $(OPENBLAS_LIB) $(shell pkg-config --libs libpcre2-8 jansson 2>/dev/null) -lm
VIZ_LIBS    := $(shell pkg-config --libs ncursesw cairo 2>/dev/null)
REPL_LIBS   := $(shell pkg-config --libs readline 2>/dev/null || echo -lreadline)
CHECK_LIBS  := $(shell pkg-config --libs check 2>/dev/null)
LDFLAGS += -fopenmp $(EXTRA_LDFLAGS)

ENGINE_SRC := $(sort $(wildcard engine/*.c engine/*/*.c))
VIZ_SRC    := $(sort $(wildcard viz/*.c))
REPL_SRC   := $(filter-out repl/main.c,$(sort $(wildcard repl/*.c)))
TEST_SRC   := $(sort $(wildcard tests/check_*.c))
TEST_UTIL  := $(sort $(wildcard tests/util/*.c))
BENCH_SRC  := $(sort $(wildcard bench/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
ENGINE_LIB := $(BUILD)/libengine.a
VIZ_LIB    := $(BUILD)/libviz.a
REPL_LIB   := $(BUILD)/librepl.a
TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCHES    := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
LECTERN    := $(BIN)/lectern
ALL_LIBS   := $(REPL_LIB) $(VIZ_LIB) $(ENGINE_LIB)
LINK_LIBS  := $(REPL_LIBS) $(VIZ_LIBS) $(ENGINE_LIBS)

Q := @
ifeq ($(V),1)
Q :=
endif

.PHONY: all run check check-unit check-e2e check-deps-rule asan bench fuzz install clean deps \
        default-model tests
all: deps-quiet $(LECTERN)

deps:
	@bash scripts/deps.sh
deps-quiet:
	@bash scripts/deps.sh --quiet
.PHONY: deps-quiet

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(ENGINE_LIB): $(call obj,$(ENGINE_SRC))
	@mkdir -p $(dir $@); rm -f $@
	$(Q)ar rcs $@ $^
$(VIZ_LIB): $(call obj,$(VIZ_SRC))
	@mkdir -p $(dir $@); rm -f $@
	$(Q)ar rcs $@ $^
$(REPL_LIB): $(call obj,$(REPL_SRC))
	@mkdir -p $(dir $@); rm -f $@
	$(Q)ar rcs $@ $^

$(LECTERN): $(BUILD)/repl/main.o $(ALL_LIBS)
	@mkdir -p $(BIN)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LINK_LIBS)

# Test programs at -O2: GCC 12 at -O3 reports false dangling-pointer and maybe-uninitialized
# warnings inside Check's assertion macros.
$(BUILD)/tests/%: OPT = -O2 $(ARCH) -g
$(BUILD)/tests/%: tests/%.c $(call obj,$(TEST_UTIL)) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	@echo "  TEST    $<"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call obj,$(TEST_UTIL)) $(ALL_LIBS) $(LINK_LIBS) $(CHECK_LIBS)

$(BUILD)/bench/%: bench/%.c $(ALL_LIBS)
	@mkdir -p $(dir $@)
	@echo "  BENCH   $<"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(LINK_LIBS)

tests: $(TESTS) $(LECTERN)

run: all
	@if [ -f models/default.safetensors ]; then exec $(LECTERN) models/default.safetensors; \
	 else exec $(LECTERN); fi

# make check: every Check suite, the dependency-rule check, end-to-end runs and oracle tests.
check: deps-quiet tests check-deps-rule
	@LECTERN_BIN=$(abspath $(LECTERN)) bash scripts/run-tests.sh $(BUILD) $(TESTS)

check-deps-rule:
	@bash scripts/check-deps-rule.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/bin \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" check

bench: all $(BENCHES)
	@bash scripts/run-bench.sh $(BUILD)

# The default model (docs/training.md): the toy-world corpus, a BPE learned from it and a
# small GPT-2 trained by Lectern's own code, written to models/default.safetensors with the
# tokenizer in its metadata.  One thread: a model this small trains no faster on two, and
# the result is the same bits every time.  An interrupted run goes on with RESUME=--resume.
DEFAULT_DIR ?= $(BUILD)/default-model
default-model: deps-quiet $(LECTERN)
	@mkdir -p $(DEFAULT_DIR) models
	$(LECTERN) corpus --seed 1 --lang both --count 40000 > $(DEFAULT_DIR)/corpus.txt
	$(LECTERN) tokenizer train --data $(DEFAULT_DIR)/corpus.txt --vocab 2048 --out $(DEFAULT_DIR)/tokenizer
	$(LECTERN) train --data $(DEFAULT_DIR)/corpus.txt --tokenizer $(DEFAULT_DIR)/tokenizer \
	  --config default --steps 2000 --lr 0.002 --seed 1 --threads 1 --checkpoint $(DEFAULT_DIR)/default.ckpt \
	  --plot $(DEFAULT_DIR)/loss.png --out models/default.safetensors $(RESUME)
	$(LECTERN) coref --model models/default.safetensors --names --lang en --top 3

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 20
fuzz: deps-quiet
	@bash scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_SRC)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/lectern/lessons \
	  $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(LECTERN) $(DESTDIR)$(PREFIX)/bin/lectern
	cp -r lessons/. $(DESTDIR)$(PREFIX)/share/lectern/lessons/
	install -m 644 man/lectern.1 $(DESTDIR)$(PREFIX)/share/man/man1/lectern.1

clean:
	rm -rf build build-asan build-fuzz bin

.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
