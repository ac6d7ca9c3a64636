# tepui build: GNU Make + pkg-config, C17, warnings are errors.
#
#   make                 programs in build/bin, libraries in build/lib
#   make SAN=1           AddressSanitizer + UndefinedBehaviorSanitizer build in build-san/
#   make check           unit and integration tests (against the same build)
#   make unit | integration
#   make BUILD=dir       build somewhere else (parallel work trees)

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT ?= -O1
else
BUILD ?= build
SANFLAGS :=
OPT ?= -O2
endif

CC ?= cc
PKGS := libevent libevent_pthreads libprotobuf-c jansson sqlite3 libcurl openssl libarchive
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

GEN := $(BUILD)/gen
# Deprecated protobuf fields stay readable (we accept old formats), while their
# descriptor flag still tells the JSON codec to skip their defaults.
CPPFLAGS += -DPROTOBUF_C__NO_DEPRECATED
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Isrc -I$(GEN) $(PKG_CFLAGS)
CFLAGS ?= $(OPT) -g
CFLAGS += -std=c17 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
          -Wstrict-prototypes -Wmissing-prototypes -fno-strict-aliasing $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
# The ZooKeeper C client (libzookeeper-mt-dev) ships no pkg-config file.
ZK_LIBS := -lzookeeper_mt
ifeq ($(wildcard /usr/include/zookeeper/zookeeper.h),)
$(warning libzookeeper-mt-dev is missing (zookeeper/zookeeper.h): run scripts/install-deps.sh)
endif
LDLIBS += $(PKG_LIBS) $(ZK_LIBS) -lm -lpthread

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_SHA := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
CPPFLAGS += -DTEPUI_VERSION='"$(VERSION)"' -DTEPUI_GIT_SHA='"$(GIT_SHA)"'

# ---- protobuf schemas -> generated C (never committed) -------------------
PROTOS := $(wildcard src/wire/proto/*.proto)
PROTO_C := $(patsubst src/wire/proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: src/wire/proto/%.proto $(PROTOS)
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Isrc/wire/proto $<

# Test-only schemas (codec tests) live beside their tests.
TEST_PROTOS := $(wildcard tests/unit/proto/*.proto)
TEST_PROTO_C := $(patsubst tests/unit/proto/%.proto,$(GEN)/test/%.pb-c.c,$(TEST_PROTOS))
$(GEN)/test/%.pb-c.c $(GEN)/test/%.pb-c.h: tests/unit/proto/%.proto
	@mkdir -p $(GEN)/test
	protoc-c --c_out=$(GEN)/test -Itests/unit/proto $<

# ---- objects ---------------------------------------------------------------
OBJ := $(BUILD)/obj
$(OBJ)/%.o: %.c | $(PROTO_H) $(TEST_PROTO_C:.c=.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(OBJ)/gen/%.o: $(GEN)/%.c | $(PROTO_H) $(TEST_PROTO_C:.c=.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(filter-out -Wmissing-prototypes,$(CFLAGS)) -Wno-unused-parameter -c -o $@ $<

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))

COMMON_SRC := $(wildcard src/common/*.c)
WIRE_SRC := $(wildcard src/wire/*.c)
HTTP_SRC := $(wildcard src/http/*.c)
LIB_SRC := $(wildcard src/lib/*.c)
HA_SRC := $(wildcard src/ha/*.c)
MASTER_SRC := $(wildcard src/master/*.c src/master/*/*.c)
AGENT_SRC := $(wildcard src/agent/*.c src/agent/*/*.c)
EXECUTOR_SRC := $(wildcard src/executor/*.c)
FETCHER_SRC := $(wildcard src/fetcher/*.c)
CLI_SRC := $(wildcard src/cli/*.c)

GEN_OBJ := $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(PROTO_C))
TEST_GEN_OBJ := $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(TEST_PROTO_C))

# One static library holds everything shared; each program adds its own objects.
LIBTEPUI := $(BUILD)/lib/libtepui.a
LIBTEPUI_OBJ := $(call objs,$(COMMON_SRC) $(WIRE_SRC) $(HTTP_SRC) $(HA_SRC) $(LIB_SRC)) $(GEN_OBJ)
$(LIBTEPUI): $(LIBTEPUI_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Daemons keep their main() in main.c; other objects are shared with tests.
MASTER_LIB_OBJ := $(call objs,$(filter-out src/master/main.c,$(MASTER_SRC)))
AGENT_LIB_OBJ := $(call objs,$(filter-out src/agent/main.c,$(AGENT_SRC)))
EXECUTOR_LIB_OBJ := $(call objs,$(filter-out src/executor/main.c,$(EXECUTOR_SRC)))

BIN := $(BUILD)/bin
PROGRAMS := $(BIN)/tepui-master $(BIN)/tepui-agent $(BIN)/tepui-executor $(BIN)/tepui-fetcher $(BIN)/tepui
# (programs appear as their main.c does)
PROGRAMS := $(filter $(patsubst %,$(BIN)/tepui-%,$(notdir $(patsubst %/main.c,%,$(wildcard src/master/main.c src/agent/main.c src/executor/main.c src/fetcher/main.c)))) $(if $(wildcard src/cli/main.c),$(BIN)/tepui),$(PROGRAMS))

$(BIN)/tepui-master: $(call objs,$(MASTER_SRC)) $(LIBTEPUI)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/tepui-agent: $(call objs,$(AGENT_SRC)) $(LIBTEPUI)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# An executor starts for every command task: its libraries are linked in
# statically so that it spends no time in the dynamic linker.
EXECUTOR_LIBS := -Wl,-Bstatic -levent -lprotobuf-c -ljansson -Wl,-Bdynamic -lm -lpthread
$(BIN)/tepui-executor: $(call objs,$(EXECUTOR_SRC)) $(LIBTEPUI)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(EXECUTOR_LIBS)
# The fetcher runs once per container with URIs, apart from the agent (as
# mesos-fetcher does): downloads (libcurl) and archives (libarchive).
$(BIN)/tepui-fetcher: $(call objs,$(FETCHER_SRC)) $(LIBTEPUI)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/tepui: $(call objs,$(CLI_SRC)) $(LIBTEPUI)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Example executors and schedulers (frameworks/examples/NAME.c -> $(BUILD)/examples/NAME).
EXAMPLE_SRC := $(wildcard frameworks/examples/*.c)
EXAMPLES := $(patsubst frameworks/examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRC))
$(BUILD)/examples/%: $(OBJ)/frameworks/examples/%.o $(LIBTEPUI)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

all: $(PROGRAMS) $(EXAMPLES)
.DEFAULT_GOAL := all

# RENDLER, the sample framework (frameworks/rendler/): a scheduler and two
# executors on libtepui. The scheduler packs the executors into a tar.gz
# (libarchive) that agents fetch.
RENDLER_MAINS := frameworks/rendler/scheduler.c frameworks/rendler/crawl_executor.c \
                 frameworks/rendler/render_executor.c
RENDLER_OBJ := $(call objs,$(filter-out $(RENDLER_MAINS),$(wildcard frameworks/rendler/*.c)))
RENDLER_PROGRAMS := $(if $(wildcard frameworks/rendler/scheduler.c),$(BIN)/rendler-scheduler \
                      $(BIN)/rendler-crawl-executor $(BIN)/rendler-render-executor)
$(BIN)/rendler-scheduler: $(OBJ)/frameworks/rendler/scheduler.o $(RENDLER_OBJ) $(LIBTEPUI)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libarchive)
$(BIN)/rendler-%-executor: $(OBJ)/frameworks/rendler/%_executor.o $(RENDLER_OBJ) $(LIBTEPUI)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
all: $(RENDLER_PROGRAMS)

# ---- tests -----------------------------------------------------------------
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UNIT_SUPPORT := $(call objs,$(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c)))
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(INTEG_SRC))
HARNESS_OBJ := $(call objs,$(filter-out $(INTEG_SRC),$(wildcard tests/integration/*.c)))
TEST_LIBS := $(shell pkg-config --libs cmocka)

# Daemon internals go into archives so a unit test pulls in only what it uses.
$(BUILD)/lib/libmaster.a: $(MASTER_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/lib/libagent.a: $(AGENT_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/lib/libexecutor.a: $(EXECUTOR_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/test_%: $(OBJ)/tests/unit/test_%.o $(UNIT_SUPPORT) $(TEST_GEN_OBJ) $(BUILD)/lib/libmaster.a $(BUILD)/lib/libagent.a $(BUILD)/lib/libexecutor.a $(LIBTEPUI)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)

$(BUILD)/tests/integration/test_%: $(OBJ)/tests/integration/test_%.o $(HARNESS_OBJ) $(LIBTEPUI)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)

# Some unit tests (libtepui's) talk to a real master.
$(UNIT_BIN) $(INTEG_BIN): | $(PROGRAMS)
$(BUILD)/tests/integration/test_rendler: | $(RENDLER_PROGRAMS)
# The emulated cluster runs the benchmark's emulator.
$(BUILD)/tests/integration/test_emulator: | $(BUILD)/bench/emulator
# The isolation tests read container cgroups with the agent's own paths.
$(BUILD)/tests/integration/test_isolation: $(OBJ)/src/agent/cgroups.o
# RENDLER's link scanner is unit-tested apart from the daemons.
$(BUILD)/tests/test_rendler_links: $(OBJ)/tests/unit/test_rendler_links.o $(RENDLER_OBJ) $(LIBTEPUI)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)
$(OBJ)/tests/unit/test_rendler_links.o: CPPFLAGS += -Iframeworks

# ---- interop: a Mesos scheduler written with mesos-go (tests/interop) --------
# Built offline in GOPATH mode against Debian's golang-github-mesos-mesos-go-dev
# (under $(GOCODE)) with golang-go. Where either is missing the rule only says
# so: `make` never needs Go, but test_interop then fails naming the packages.
GO ?= go
GOCODE ?= /usr/share/gocode
INTEROP_BIN := $(BUILD)/tests/interop/mesosgo-scheduler
HAVE_MESOS_GO := $(and $(shell command -v $(GO) 2>/dev/null),$(wildcard $(GOCODE)/src/github.com/mesos/mesos-go/api/v1/lib))
$(INTEROP_BIN): $(wildcard tests/interop/mesosgo/*.go)
ifneq ($(HAVE_MESOS_GO),)
	@mkdir -p $(dir $@)
	@echo "  GO      tests/interop/mesosgo"
	@cd tests/interop/mesosgo && GOPATH=$(GOCODE) GO111MODULE=off GOFLAGS= GOPROXY=off \
	  GOCACHE=$(abspath $(BUILD))/gocache $(GO) build -o $(abspath $@) .
else
	@echo "  SKIP    $@: needs golang-go and golang-github-mesos-mesos-go-dev (scripts/install-deps.sh)"
endif
interop: $(INTEROP_BIN)
$(BUILD)/tests/integration/test_interop: | $(INTEROP_BIN)

tests: $(UNIT_BIN) $(INTEG_BIN)

unit: all $(UNIT_BIN)
	@scripts/run-tests.sh unit $(BUILD)

integration: all $(INTEG_BIN)
	@scripts/run-tests.sh integration $(BUILD)

check: all tests
	@scripts/run-tests.sh all $(BUILD)

# ---- benchmarks (not part of the suite; see bench/launch.sh) ----------------
BENCH_SRC := $(filter-out bench/resources_bench.c bench/allocator_bench.c,$(wildcard bench/*.c))
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
$(BUILD)/bench/%: $(OBJ)/bench/%.o $(LIBTEPUI)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# The allocator alone links the master's internals.
$(BUILD)/bench/allocator_bench: $(OBJ)/bench/allocator_bench.o $(BUILD)/lib/libmaster.a $(LIBTEPUI)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bench: all $(BENCH_BIN) $(BUILD)/bench/allocator_bench

# ---- fuzz targets (clang + libFuzzer) --------------------------------------
# Run one with e.g. build-fuzz/fuzz/fuzz_json -max_total_time=60 (FUZZ_BUILD=dir
# builds elsewhere). Fuzzers link only the decoders (common + wire + schemas).
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BUILD ?= build-fuzz
FUZZ_OBJ := $(call objs,$(COMMON_SRC) $(WIRE_SRC)) $(GEN_OBJ) $(TEST_GEN_OBJ)
fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
	  $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/fuzz_%: $(OBJ)/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

clean:
	rm -rf build build-san build-fuzz

.PHONY: all tests unit integration check fuzz clean bench interop
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
