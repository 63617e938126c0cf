# A thin wrapper over meson/ninja. Everything a new Debian 12 machine needs is installed by
# `make deps`, which every other target runs first.
BUILD ?= build
MESON_OPTS ?=
ifeq ($(SANITIZE),1)
BUILD := build-san
MESON_OPTS += -Db_sanitize=address,undefined -Db_lundef=false
endif
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30

.PHONY: all deps build run test bench fuzz check-style clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@scripts/dev-run $(BUILD)

test: build
	@scripts/node-deps.sh
	@OSMODA_SANITIZE=$(SANITIZE) tests/run $(BUILD)

bench: build
	@bench/run $(BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

check-style:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san $(FUZZ_BUILD)
