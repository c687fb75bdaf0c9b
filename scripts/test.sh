#!/usr/bin/env bash
# The README's test command, and what CI runs (.ci/run): installs what is
# missing, builds with warnings as errors under AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs every tier of tests with ctest:
#
#   unit and e2e   side by side, two at a time (each e2e suite starts its own
#                  broker on a fresh endpoint)
#   slow           soak, churn, faults and durable crashes, one at a time
#   python         the Python client (python/) installed into a venv from
#                  Debian's packages only, its pytest suite against real
#                  brokers (this build's ipcqd and ipcq CLI)
#   fuzz           the libFuzzer targets, built with clang: every regression
#                  input and seed replayed, then a fixed number of executions
#                  from a fixed seed, so that a commit passes or fails the
#                  same way every time (long random fuzzing: scripts/fuzz.sh)
#
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
jobs=$(nproc)
build=${IPCQ_TEST_BUILD:-build/test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DIPCQ_WERROR=ON -DIPCQ_SANITIZE=ON \
      -DIPCQ_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j "$jobs"
(cd "$build" && ctest --output-on-failure --timeout 600 -j "$jobs" -LE slow)
(cd "$build" && ctest --output-on-failure --timeout 600 -L slow)

# The Python client (SPEC §8). Debian's python3 refuses pip outside a venv
# (PEP 668); the venv sees Debian's setuptools, wheel and pytest, and pip
# takes nothing from the package index (--no-index).
venv=${IPCQ_TEST_VENV:-build/venv}
/usr/bin/python3 -m venv --system-site-packages "$venv"
IPCQ_CMAKE_BUILD_DIR="$PWD/build/python-lib" \
    "$venv/bin/pip" install -q --no-index --no-build-isolation ./python
IPCQ_BUILD_DIR="$build" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests

# Fuzzing (SPEC B1), deterministic: see tests/fuzz/CMakeLists.txt.
fuzz_build=${IPCQ_FUZZ_BUILD:-build/fuzz}
CC=clang cmake -S . -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPCQ_FUZZ=ON \
      -DIPCQ_SANITIZE=ON -DIPCQ_WERROR=ON -DIPCQ_BUILD_TESTS=OFF >/dev/null
cmake --build "$fuzz_build" -j "$jobs" --target ipcq_fuzz_targets
(cd "$fuzz_build" && ctest -L fuzz --output-on-failure -j 3)
