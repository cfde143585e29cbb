# The two commands: `make run` and `make test`. Everything else is a convenience.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: all deps build run test unit asan fuzz fuzz-build bench install clean format

all: build

deps:
	@./scripts/deps.sh build

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/omnibus serve --data-dir ./omnibus-data

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DOB_SANITIZE=ON

asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Unit + interop + matrix + crash tests on the normal build, the unit suite under
# ASan+UBSan, and every fuzz target briefly over its corpus; scripts/test.sh prints the
# combined "N passed, N failed" line last.
test:
	@./scripts/deps.sh test
	@$(MAKE) --no-print-directory build asan fuzz-build
	@./scripts/test.sh $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers

unit: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure

$(FUZZ_BUILD)/build.ninja:
	CC=clang cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DOB_FUZZ=ON

# Builds every fuzz target and runs each for FUZZ_SECONDS over its seed corpus.
fuzz: fuzz-build
	./scripts/fuzz.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-30}

bench: build
	./bench/core.sh $(BUILD)

install: build
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
