# ofelia: a job scheduler for Docker hosts that keeps its state in SQLite.
#
#   make            release build: ./ofelia
#   make run        build, then start the daemon on the embedded default config
#   make test       sanitizer build (ASan + UBSan), unit, integration and browser tests
#   make test-ui    the browser tests alone; make test-ui-long: 10-minute session
#   make test-cluster  the longer cluster scenarios on a real 3-member etcd
#   make test-image build the container image for real and test it (root)
#   make abuse      the HTTP abuse suite, long form (make test runs a short one)
#   make bench      release build, benchmarks that print figures
#   make fuzz       libFuzzer targets, each for FUZZ_SECONDS
#   make campaign   long kill -9 loop and fault matrix (figures: CAMPAIGNS.md)
#   make fuzz-campaign  one target (FUZZ_TARGET) for FUZZ_CAMPAIGN_SECONDS, recorded
#   make deps       install every Debian package the above need
#   make fmt        apply .clang-format;  make check-deps: module include rules

CC      ?= gcc
PYTHON  ?= python3
PKGS    := libh2o-evloop jansson libjwt openssl sqlite3 yaml-0.1 uuid
# libcurl's headers only: src/lazycurl loads the library when it is first used.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libcurl 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lwslay -lcrypt -lm -pthread
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

# Parallel work trees may build side by side: make BUILD=build-mine
BUILD ?= build
# V=1 shows whole command lines.
Q := $(if $(V),,@)

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
CPPFLAGS := -DH2O_USE_LIBUV=0 -D_GNU_SOURCE -Isrc \
            -DOFELIA_VERSION='"$(VERSION)"' -DOFELIA_COMMIT='"$(COMMIT)"'
STD      := -std=gnu17
RELEASE_FLAGS := -O2 -g
ASAN_FLAGS    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=all

SRCS := $(sort $(shell find src -name '*.c' ! -path src/main.c))
GEN_SRCS := $(BUILD)/gen/embedded.c
MIGRATIONS := $(sort $(wildcard migrations/*.sql))
UI_FILES := $(sort $(wildcard src/http/ui/*))
PRESETS := $(sort $(wildcard presets/*.yaml))
EMBEDDED := $(MIGRATIONS) src/cli/default-config.yaml $(UI_FILES) $(PRESETS)
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRCS := $(sort $(wildcard tools/bench/*.c))

REL_OBJS  := $(SRCS:%.c=$(BUILD)/release/%.o) $(BUILD)/release/gen/embedded.o
ASAN_OBJS := $(SRCS:%.c=$(BUILD)/asan/%.o) $(BUILD)/asan/gen/embedded.o
FUZZ_OBJS := $(SRCS:%.c=$(BUILD)/fuzz/%.o) $(BUILD)/fuzz/gen/embedded.o

FUZZ_SECONDS ?= 20

.PHONY: all run test test-ui test-ui-long test-cluster test-image unit integration abuse bench fuzz \
        fuzz-campaign campaign deps fmt fmt-check check-deps clean help

all: ofelia

ofelia: $(BUILD)/release/ofelia
	cp $< $@

# Files compiled into the binary: migrations, the default config, the web UI.
$(BUILD)/gen/embedded.c: tools/embed.py $(EMBEDDED)
	@mkdir -p $(@D)
	@echo "  GEN   $@"
	$(Q)$(PYTHON) tools/embed.py $@ $(EMBEDDED)

$(BUILD)/release/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $<"
	$(Q)$(CC) $(STD) $(WARN) $(CPPFLAGS) $(PKG_CFLAGS) $(RELEASE_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/release/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	@echo "  CC    $<"
	$(Q)$(CC) $(STD) $(WARN) $(CPPFLAGS) $(RELEASE_FLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $<"
	$(Q)$(CC) $(STD) $(WARN) $(CPPFLAGS) $(PKG_CFLAGS) $(ASAN_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	@echo "  CC    $<"
	$(Q)$(CC) $(STD) $(WARN) $(CPPFLAGS) $(ASAN_FLAGS) -c $< -o $@

$(BUILD)/release/libofelia.a: $(REL_OBJS)
	@echo "  AR    $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/asan/libofelia.a: $(ASAN_OBJS)
	@echo "  AR    $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/release/ofelia: $(BUILD)/release/src/main.o $(BUILD)/release/libofelia.a
	@echo "  LINK  $@"
	$(Q)$(CC) $(RELEASE_FLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/asan/ofelia: $(BUILD)/asan/src/main.o $(BUILD)/asan/libofelia.a
	@echo "  LINK  $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(PKG_LIBS)

# Unit tests: one criterion binary; each test runs in its own forked process.
$(BUILD)/asan/unit: $(UNIT_SRCS:%.c=$(BUILD)/asan/%.o) $(BUILD)/asan/libofelia.a
	@echo "  LINK  $@"
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(PKG_LIBS) $(shell pkg-config --libs criterion)

# The demo jobs, by name: without --config the daemon reads
# /etc/ofelia/config.ini, or runs label jobs only.
run: ofelia
	@if [ "$$(id -u)" -eq 0 ]; then db=/var/lib/ofelia/ofelia.db; \
	 else db=$${XDG_STATE_HOME:-$$HOME/.local/state}/ofelia/ofelia.db; fi; \
	 echo "make run: the database is $$db (ofelia daemon --db FILE to choose)"
	./ofelia daemon --config builtin:demo --enable-web

# The whole suite under ASan + UBSan. tools/test.sh starts the services the
# integration tests need (a private Docker engine) and stops them afterwards.
test: $(BUILD)/asan/ofelia $(BUILD)/asan/unit
	BUILD=$(BUILD) PYTHON=$(PYTHON) ./tools/test.sh

# The Dockerfile built on a private engine (base image made with debootstrap,
# cached in /var/cache/ofelia-image), then tests/image against the image.
test-image:
	./tools/image/test.sh

# The web UI in Debian's Chromium (tests/ui): screenshots go to
# $(BUILD)/ui-screenshots. The long form keeps the page open 10 minutes over
# 200 jobs, 20 of them firing every second (BENCHMARKS.md).
test-ui: $(BUILD)/asan/ofelia
	BUILD=$(BUILD) ./tools/test-ui.sh

test-ui-long: $(BUILD)/release/ofelia
	BUILD=$(BUILD) OFELIA_BIN=$(CURDIR)/$(BUILD)/release/ofelia OFELIA_UI_SESSION_SECONDS=600 \
		OFELIA_UI_FAST_JOBS=20 ./tools/test-ui.sh

# The longer cluster scenarios (docs/cluster.md): an etcd member down, quorum
# lost and back, a handover at SIGTERM; make test runs one failover scenario.
test-cluster: $(BUILD)/asan/ofelia
	OFELIA_BIN=$(CURDIR)/$(BUILD)/asan/ofelia $(PYTHON) -m unittest discover -s tests/cluster -t . -v

unit: $(BUILD)/asan/unit
	$(BUILD)/asan/unit -j2

# The HTTP abuse suite, long form (make test runs the short one).
abuse: $(BUILD)/asan/ofelia
	OFELIA_BIN=$(CURDIR)/$(BUILD)/asan/ofelia $(PYTHON) tools/http-abuse.py --long

integration: $(BUILD)/asan/ofelia
	OFELIA_BIN=$(CURDIR)/$(BUILD)/asan/ofelia $(PYTHON) -m unittest discover -s tests/integration -t . -v

bench: $(BUILD)/release/ofelia $(BENCH_SRCS:tools/bench/%.c=$(BUILD)/release/bench/%)
	BUILD=$(BUILD) ./tools/bench/run.sh

$(BUILD)/release/bench/%: tools/bench/%.c $(BUILD)/release/libofelia.a
	@mkdir -p $(@D)
	@echo "  LINK  $@"
	$(Q)$(CC) $(STD) $(WARN) $(CPPFLAGS) $(PKG_CFLAGS) $(RELEASE_FLAGS) -o $@ $^ $(PKG_LIBS)

# libFuzzer targets, built with clang; each runs FUZZ_SECONDS on its corpus.
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
               -Wno-unknown-warning-option
$(BUILD)/fuzz/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $< (fuzz)"
	$(Q)clang $(STD) $(WARN) $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	@echo "  CC    $< (fuzz)"
	$(Q)clang $(STD) $(WARN) $(CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/bin/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(@D)
	clang $(STD) $(WARN) -Wno-unknown-warning-option $(CPPFLAGS) $(PKG_CFLAGS) -O1 -g \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $^ $(PKG_LIBS)

fuzz: $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/bin/%)
	./tools/fuzz.sh $(FUZZ_SECONDS) $^

# The long campaigns against the sanitizer build (the short ones run in test).
campaign: $(BUILD)/asan/ofelia
	OFELIA_BIN=$(CURDIR)/$(BUILD)/asan/ofelia PYTHON=$(PYTHON) ./tools/campaign/run.sh long

# A long campaign of one target at nice 19, its corpus kept across campaigns
# and its figures added to tests/fuzz/campaigns/<target>.md.
FUZZ_TARGET ?= fuzz_http
FUZZ_CAMPAIGN_SECONDS ?= 900
fuzz-campaign: $(BUILD)/fuzz/bin/$(FUZZ_TARGET)
	BUILD=$(BUILD) ./tools/fuzz-campaign.sh $< $(FUZZ_CAMPAIGN_SECONDS)

deps:
	./tools/deps.sh

fmt:
	clang-format -i $$(find src tests tools -name '*.[ch]')

fmt-check:
	clang-format --dry-run -Werror $$(find src tests tools -name '*.[ch]')

check-deps:
	./tools/check-deps.sh

clean:
	rm -rf build ofelia

help:
	@sed -n '3,15p' Makefile

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
