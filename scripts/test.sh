#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors under
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs every test
# (ctest over the cmocka suites), then builds the fuzz targets with clang and
# fuzzes each for a minute (ctest -L fuzz). Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build=${IPCQ_TEST_BUILD:-build/test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DIPCQ_WERROR=ON -DIPCQ_SANITIZE=ON \
      -DIPCQ_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
(cd "$build" && ctest --output-on-failure --timeout 600)

# Fuzzing (SPEC B1): the libFuzzer targets of tests/fuzz, built with clang
# under ASan+UBSan, each run for IPCQ_FUZZ_SECONDS (default 60) in parallel;
# a crash, leak, undefined behaviour or hang fails the run.
fuzz_build=${IPCQ_FUZZ_BUILD:-build/fuzz}
CC=clang cmake -S . -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPCQ_FUZZ=ON \
      -DIPCQ_SANITIZE=ON -DIPCQ_WERROR=ON -DIPCQ_BUILD_TESTS=OFF \
      -DIPCQ_FUZZ_SECONDS="${IPCQ_FUZZ_SECONDS:-60}" >/dev/null
cmake --build "$fuzz_build" -j "$(nproc)" --target fuzz_broker fuzz_client fuzz_cli
(cd "$fuzz_build" && ctest -L fuzz --output-on-failure -j 3)
