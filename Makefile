# simmimd — build, test and benchmark.
#   make            build everything (installs missing Debian packages first)
#   make test       every test; the last line is "N passed, N failed"
#   make bench      training-step throughput beside PyTorch (needs python3-torch)
#   make fixtures   regenerate the golden fixtures from PyTorch

CC      ?= gcc
OPT     ?= -O3 -march=native
# No -ffast-math: only flags that keep results IEEE (contraction into FMA aside) and let
# loops with selects and math calls vectorize.
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -g -fopenmp -fno-trapping-math -fno-math-errno \
           -ffp-contract=fast -Wall -Wextra -Werror -Icore \
           -I/usr/include/x86_64-linux-gnu/openblas-pthread
LDLIBS  := -lopenblas -ljansson -lpng -ljpeg -lz -lm -lpthread
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
TORCH_PY := /usr/bin/python3

CORE_SRC := $(filter-out core/%_main.c,$(wildcard core/*.c))
CORE_OBJ := $(CORE_SRC:%.c=build/obj/%.o)
CORE_SAN_OBJ := $(CORE_SRC:%.c=build/san/%.o)
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
GOLDEN_TESTS := $(patsubst tests/golden/%.c,%,$(wildcard tests/golden/test_*.c))
C_TESTS := $(UNIT_TESTS) $(GOLDEN_TESTS)
TEST_BINS := $(C_TESTS:%=build/tests/%) $(C_TESTS:%=build/san/tests/%)

.PHONY: all deps test bench fixtures clean
.SECONDARY:
all: deps build/libsimmimcore.a build/simmim-train build/simmim-eval build/bench_step

deps: build/.deps
build/.deps: deploy/deps.sh
	@deploy/deps.sh --check 2>/dev/null || deploy/deps.sh
	@mkdir -p build && touch $@

build/obj/%.o: %.c $(wildcard core/*.h) | build/.deps
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

build/san/%.o: %.c $(wildcard core/*.h) | build/.deps
	@mkdir -p $(dir $@)
	@echo "CC $< (asan+ubsan)"
	@$(CC) $(CFLAGS) $(SANFLAGS) -c $< -o $@

build/libsimmimcore.a: $(CORE_OBJ)
	@ar rcs $@ $^

build/san/libsimmimcore.a: $(CORE_SAN_OBJ)
	@ar rcs $@ $^

build/tests/%: tests/unit/%.c tests/test.h build/libsimmimcore.a
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) -Itests $< build/libsimmimcore.a $(LDLIBS) -o $@
build/tests/%: tests/golden/%.c tests/test.h build/libsimmimcore.a
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) -Itests $< build/libsimmimcore.a $(LDLIBS) -o $@
build/san/tests/%: tests/unit/%.c tests/test.h build/san/libsimmimcore.a
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) $(SANFLAGS) -Itests $< build/san/libsimmimcore.a $(LDLIBS) -o $@
build/san/tests/%: tests/golden/%.c tests/test.h build/san/libsimmimcore.a
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) $(SANFLAGS) -Itests $< build/san/libsimmimcore.a $(LDLIBS) -o $@

build/simmim-%: build/obj/core/%_main.o build/libsimmimcore.a
	@echo "LD $@"
	@$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

build/bench_step: tests/bench/bench_step.c build/libsimmimcore.a
	@echo "LD $@"
	@$(CC) $(CFLAGS) $< build/libsimmimcore.a $(LDLIBS) -o $@

INTEGRATION_TESTS := $(wildcard tests/integration/test_*.sh)

# Unit and golden tests on both builds; the slower integration tests once, on the normal one.
test: all $(TEST_BINS)
	@tests/run_tests.sh $(TEST_BINS) $(INTEGRATION_TESTS)

bench: all
	@deploy/deps.sh --check --dev 2>/dev/null || deploy/deps.sh --dev
	@tests/bench/bench.sh

fixtures:
	@deploy/deps.sh --check --dev 2>/dev/null || deploy/deps.sh --dev
	$(TORCH_PY) tests/golden/make_fixtures.py

clean:
	rm -rf build
