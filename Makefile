# simmimd — build, test and benchmark.
#   make            build everything (installs missing Debian packages first)
#   make run        build and start the daemon on 127.0.0.1:8080 (LISTEN=host:port to change,
#                   DATA_ROOT="DIR ..." for folders of your own images)
#   make test       every test; the last line is "N passed, N failed"
#   make bench      training-step throughput beside PyTorch (needs python3-torch)
#   make bench-data the data benchmark (issue 26): image sets under build/bench/, streamed decode
#                   beside PyTorch's DataLoader, memory and training cost (tests/bench/bench_data.sh;
#                   deploy/deps.sh --dev installs torchvision, PIL and mate-backgrounds)
#   make fixtures   regenerate the golden fixtures from PyTorch
#   make fuzz       every libFuzzer harness of tests/fuzz/ for FUZZ_SECONDS (default 60) each
#                   (installs clang first); figures in tests/bench/results/fuzz.md
#   make reliability  the fuzzers (make fuzz), fault injection, soak, load (wrk) and 50 kill -9 of the daemon
#                   (tests/reliability/; minutes, as root); outputs in tests/bench/results/

CC      ?= gcc
OPT     ?= -O3 -march=native
# No -ffast-math: only flags that keep results IEEE (contraction into FMA aside) and let
# loops with selects and math calls vectorize.
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -g -fopenmp -fno-trapping-math -fno-math-errno \
           -ffp-contract=fast -Wall -Wextra -Werror -Icore \
           -I/usr/include/x86_64-linux-gnu/openblas-pthread
LDLIBS  := -lmicrohttpd -lsqlite3 -lopenblas -ljansson -lpng -ljpeg -larchive -lz -lm -lpthread
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
TORCH_PY := /usr/bin/python3

# Data-parallel training across processes (train.ranks, issue 29) runs on MPI: with mpicc found
# (Open MPI, deploy/deps.sh) simmim-train is built on core/train/dist_mpi.c; MPI=0, or no
# mpicc, builds it on dist_none.c — one process, train.ranks > 1 refused. Nothing else differs,
# so build/nompi/simmim-train (make test) links the same objects with dist_none.o.
MPI ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
LDLIBS_NOMPI := $(LDLIBS)
ifeq ($(MPI),1)
DIST_IMPL := mpi
MPI_CFLAGS := $(shell mpicc --showme:compile)
LDLIBS += -Wl,--as-needed $(shell mpicc --showme:link) -Wl,--no-as-needed
else
DIST_IMPL := none
endif
# Rewritten when the choice changes, so that the library and its programs are rebuilt then.
DIST_STAMP := $(shell mkdir -p build && [ "$$(cat build/.dist 2>/dev/null)" = $(DIST_IMPL) ] || \
                echo $(DIST_IMPL) > build/.dist; echo build/.dist)

CORE_SRC := $(filter-out core/cmd/% core/train/dist_%.c,$(wildcard core/*/*.c)) \
            core/train/dist_$(DIST_IMPL).c
CORE_OBJ := $(CORE_SRC:%.c=build/obj/%.o)
CORE_SAN_OBJ := $(CORE_SRC:%.c=build/san/%.o)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
SERVER_OBJ := $(SERVER_SRC:%.c=build/obj/%.o) build/obj/gen/migrations.o
SERVER_SAN_OBJ := $(SERVER_SRC:%.c=build/san/%.o) build/san/gen/migrations.o
MIGRATIONS := $(sort $(wildcard migrations/*.sql))
# Unit tests live in the folder of the layer they test (tests/unit/ops/, ..., tests/unit/server/).
C_TESTS := $(patsubst tests/%.c,%,$(wildcard tests/unit/*/test_*.c tests/golden/test_*.c))
TEST_BINS := $(C_TESTS:%=build/tests/%) $(C_TESTS:%=build/san/tests/%)
# The fuzzing harnesses (tests/fuzz/fuzz_<name>.c); make test replays their inputs.
FUZZ_ALL := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
# The harnesses that run server code: they link the server objects too.
FUZZ_SERVER_HARNESSES := http study
FUZZ_REPLAYS := $(FUZZ_ALL:%=build/san/fuzz/replay_%)

.PHONY: all deps run test bench bench-data fixtures fuzz fuzz-build fuzz-seeds reliability clean
.SECONDARY:
all: deps build/libsimmimcore.a build/simmimd build/simmim-train build/simmim-eval build/simmim-data \
     build/bench_step \
     web/vendor/.built

deps: build/.deps
build/.deps: deploy/deps.sh
	@deploy/deps.sh --check 2>/dev/null || deploy/deps.sh
	@mkdir -p build && touch $@

HEADERS := $(wildcard core/*/*.h server/*.h)

build/gen/migrations.c: server/embed_migrations.sh $(MIGRATIONS)
	@mkdir -p $(dir $@)
	@server/embed_migrations.sh $@ $(MIGRATIONS)
build/obj/gen/migrations.o: build/gen/migrations.c
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS) -c $< -o $@
build/san/gen/migrations.o: build/gen/migrations.c
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS) $(SANFLAGS) -c $< -o $@

build/obj/core/train/dist_mpi.o build/san/core/train/dist_mpi.o: CFLAGS += $(MPI_CFLAGS)

build/obj/%.o: %.c $(HEADERS) | build/.deps
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

build/san/%.o: %.c $(HEADERS) | build/.deps
	@mkdir -p $(dir $@)
	@echo "CC $< (asan+ubsan)"
	@$(CC) $(CFLAGS) $(SANFLAGS) -c $< -o $@

build/libsimmimcore.a: $(CORE_OBJ) $(DIST_STAMP)
	@rm -f $@ && ar rcs $@ $(CORE_OBJ)

build/san/libsimmimcore.a: $(CORE_SAN_OBJ) $(DIST_STAMP)
	@rm -f $@ && ar rcs $@ $(CORE_SAN_OBJ)

build/libsimmimserver.a: $(SERVER_OBJ)
	@rm -f $@ && ar rcs $@ $^

build/san/libsimmimserver.a: $(SERVER_SAN_OBJ)
	@rm -f $@ && ar rcs $@ $^

build/simmimd: build/obj/server/main.o build/libsimmimserver.a build/libsimmimcore.a
	@echo "LD $@"
	@$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Tests link both libraries.
TEST_LIBS := build/libsimmimserver.a build/libsimmimcore.a
SAN_TEST_LIBS := build/san/libsimmimserver.a build/san/libsimmimcore.a
build/tests/%: tests/%.c tests/test.h $(TEST_LIBS)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) -Iserver -Itests $< $(TEST_LIBS) $(LDLIBS) -o $@
build/san/tests/%: tests/%.c tests/test.h $(SAN_TEST_LIBS)
	@mkdir -p $(dir $@)
	@echo "LD $@ (asan+ubsan)"
	@$(CC) $(CFLAGS) $(SANFLAGS) -Iserver -Itests $< $(SAN_TEST_LIBS) $(LDLIBS) -o $@

build/simmim-%: build/obj/core/cmd/simmim-%.o build/libsimmimcore.a
	@echo "LD $@"
	@$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# simmim-train as make MPI=0 builds it (make test runs it: that path must not rot).
build/nompi/simmim-train: build/obj/core/cmd/simmim-train.o build/obj/core/train/dist_none.o \
                          build/libsimmimcore.a
	@mkdir -p $(dir $@)
	@echo "LD $@ (MPI=0)"
	@$(CC) $(CFLAGS) $^ $(LDLIBS_NOMPI) -o $@

build/make_images: tests/bench/make_images.c
	@echo "LD $@"
	@$(CC) $(CFLAGS) $< $(LDLIBS) -o $@

build/bench_step: tests/bench/bench_step.c build/libsimmimcore.a
	@echo "LD $@"
	@$(CC) $(CFLAGS) $< build/libsimmimcore.a $(LDLIBS) -o $@

# Swin-T's linear products one shape at a time (docs/performance.md, "Swin"); run by hand.
build/matmul_shapes: tests/bench/matmul_shapes.c build/libsimmimcore.a
	@echo "LD $@"
	@$(CC) $(CFLAGS) $< build/libsimmimcore.a $(LDLIBS) -o $@

# The streamed decode on W threads (core/data/stream.h), for make bench-data.
build/bench_data: tests/bench/bench_data.c build/libsimmimcore.a
	@echo "LD $@"
	@$(CC) $(CFLAGS) $< build/libsimmimcore.a $(LDLIBS) -o $@

# The dashboard's npm dependencies (uPlot; playwright-core for the browser tests).
web/vendor/.built: web/package.json web/package-lock.json web/build.sh | build/.deps
	@web/build.sh
	@touch $@

# The daemon in the foreground with Fashion-MNIST registered; state in ./var (STATE_DIR=DIR
# to change). Folders of your own images: DATA_ROOT="/srv/images /mnt/more" (each becomes a
# --data-root).
run: all
	build/simmimd --listen $(or $(LISTEN),127.0.0.1:8080) --state-dir $(or $(STATE_DIR),var) \
	    $(foreach root,$(DATA_ROOT),--data-root $(root))

INTEGRATION_TESTS := $(wildcard tests/integration/test_*.sh tests/integration/test_*.py)

# The layering rule first (docs/architecture.md); unit and golden tests on both builds; the
# slower integration tests once, on the normal one.
test: all build/make_images build/nompi/simmim-train $(TEST_BINS) $(FUZZ_REPLAYS)
	@tests/run_tests.sh tests/structure/test_layers.sh $(TEST_BINS) $(FUZZ_REPLAYS) $(INTEGRATION_TESTS)

bench: all build/make_images
	@deploy/deps.sh --check --dev 2>/dev/null || deploy/deps.sh --dev
	@tests/bench/bench.sh

bench-data: all build/make_images build/bench_data
	@deploy/deps.sh --check --dev 2>/dev/null || deploy/deps.sh --dev
	@tests/bench/bench_data.sh

fixtures:
	@deploy/deps.sh --check --dev 2>/dev/null || deploy/deps.sh --dev
	$(TORCH_PY) tests/golden/make_fixtures.py
	$(TORCH_PY) tests/golden/make_fixtures.py --bf16
	$(TORCH_PY) tests/golden/probe_reference.py fixtures

# Fuzzing (tests/fuzz/; README "Fuzzing"). The layers the daemon reads files with (base,
# config, data, spec: the parsers and decoders, never ops, model or train) are compiled with
# clang into one archive, and each libFuzzer harness links from it only the objects it needs;
# the compute code keeps gcc and OpenMP (an OpenMP pragma in a decoder is ignored here, so it
# runs on one thread). ASan and UBSan throughout. make test replays the seed corpora and the
# regression inputs through the same harnesses built with gcc (build/san/fuzz/replay_<name>).
FUZZ_SECONDS ?= 60
FUZZ_HARNESSES ?= $(FUZZ_ALL)
FUZZ_CC := clang
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror \
               -Wno-unknown-pragmas -Icore -Iserver -Itests/fuzz -fsanitize=address,undefined \
               -fno-sanitize-recover=all
FUZZ_LIBS := -ljansson -lpng -ljpeg -larchive -lz -lm
FUZZ_HEADERS := tests/fuzz/fuzz.h tests/fuzz/fuzz_image.h
FUZZ_SRC := $(wildcard core/base/*.c core/config/*.c core/data/*.c core/spec/*.c)
# The HTTP harness runs the daemon's server in process: server/ too (never the compute code).
FUZZ_SERVER_OBJ := $(SERVER_SRC:%.c=build/fuzz/obj/%.o) build/fuzz/obj/gen/migrations.o

build/.fuzzdeps: deploy/deps.sh
	@deploy/deps.sh --check --fuzz 2>/dev/null || deploy/deps.sh --fuzz
	@mkdir -p build && touch $@

build/fuzz/obj/%.o: %.c $(HEADERS) | build/.fuzzdeps
	@mkdir -p $(dir $@)
	@echo "CC $< (clang, fuzzer)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libparsers.a: $(FUZZ_SRC:%.c=build/fuzz/obj/%.o)
	@rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HEADERS) build/fuzz/libparsers.a
	@echo "LD $@ (clang, libFuzzer)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build/fuzz/libparsers.a $(FUZZ_LIBS) -o $@

build/fuzz/obj/gen/migrations.o: build/gen/migrations.c | build/.fuzzdeps
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libserver.a: $(FUZZ_SERVER_OBJ)
	@rm -f $@ && ar rcs $@ $^

$(FUZZ_SERVER_HARNESSES:%=build/fuzz/fuzz_%): build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c \
                      $(FUZZ_HEADERS) build/fuzz/libserver.a build/fuzz/libparsers.a
	@echo "LD $@ (clang, libFuzzer)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build/fuzz/libserver.a build/fuzz/libparsers.a \
	    -lmicrohttpd -lsqlite3 $(FUZZ_LIBS) -lpthread -o $@
build/fuzz/fuzz_http: | build/simmim-data

$(FUZZ_SERVER_HARNESSES:%=build/san/fuzz/replay_%): build/san/fuzz/replay_%: tests/fuzz/replay.c \
                      tests/fuzz/fuzz_%.c $(FUZZ_HEADERS) $(SAN_TEST_LIBS)
	@mkdir -p $(dir $@)
	@echo "LD $@ (asan+ubsan)"
	@$(CC) $(CFLAGS) $(SANFLAGS) -Iserver -Itests/fuzz -DFUZZ_NAME='"$*"' tests/fuzz/replay.c \
	    tests/fuzz/fuzz_$*.c $(SAN_TEST_LIBS) $(LDLIBS) -o $@

build/san/fuzz/replay_%: tests/fuzz/replay.c tests/fuzz/fuzz_%.c $(FUZZ_HEADERS) \
                         build/san/libsimmimcore.a
	@mkdir -p $(dir $@)
	@echo "LD $@ (asan+ubsan)"
	@$(CC) $(CFLAGS) $(SANFLAGS) -Itests/fuzz -DFUZZ_NAME='"$*"' tests/fuzz/replay.c \
	    tests/fuzz/fuzz_$*.c build/san/libsimmimcore.a $(LDLIBS) -o $@

fuzz-build: $(FUZZ_HARNESSES:%=build/fuzz/fuzz_%)

# FUZZ_SECONDS per harness, one after another; new corpus entries and crash inputs go to
# build/fuzz/, the figures to tests/bench/results/fuzz.md.
fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_HARNESSES)

# Rewrites the committed seed corpora (tests/fuzz/make_seeds.c).
build/fuzz/make_seeds: tests/fuzz/make_seeds.c build/libsimmimcore.a
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) $< build/libsimmimcore.a $(LDLIBS) -o $@
fuzz-seeds: build/fuzz/make_seeds
	build/fuzz/make_seeds tests/fuzz/corpus

# The standing reliability suites: the fuzzers, then tests/reliability/run.sh (README
# "Reliability"); not in make test, they take minutes. deploy/deps.sh --reliability installs wrk.
reliability: all
	@$(MAKE) --no-print-directory fuzz
	@deploy/deps.sh --check --reliability 2>/dev/null || deploy/deps.sh --reliability
	@tests/reliability/run.sh

clean:
	rm -rf build
