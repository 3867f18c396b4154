# concur top-level Makefile: drives CMake. `make` builds into build/bin/, `make test` runs the
# whole suite (release build, then ASan+UBSan build with fuzz targets), `make run` starts a local
# 3-member cluster.
JOBS ?= $(shell nproc)
BUILD := build
ASAN_BUILD := build-asan
CTEST_ARGS ?=

.PHONY: all deps configure test test-release test-asan run fuzz soak format clean

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh build

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
		-DCMAKE_CXX_COMPILER=clang++ -DCONCUR_SANITIZE=ON -DCONCUR_FUZZ=ON

test:
	@scripts/deps.sh test
	$(MAKE) all
	$(MAKE) test-release
	$(MAKE) test-asan

test-release:
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|sim|integration|crash' $(CTEST_ARGS)

test-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|sim|fuzz' -LE 'noasan' $(CTEST_ARGS)

run: 
	@scripts/deps.sh run
	$(MAKE) all
	scripts/run-cluster.sh

# Longer fuzzing: FUZZ_SECONDS per target (default 600).
fuzz: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	scripts/fuzz.sh $(ASAN_BUILD) $${FUZZ_SECONDS:-600}

# Long soak runs (simulator seeds, crash rounds, fault tests) behind a flag.
soak: all
	cd $(BUILD) && CONCUR_SOAK=1 ctest --output-on-failure -j $(JOBS) -L 'soak|sim|crash|integration'

format:
	find src tests bench -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
