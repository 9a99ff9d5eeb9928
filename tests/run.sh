#!/usr/bin/env bash
# The whole test suite: install dependencies, build (Release) and run every
# test with ctest, check the clang build is warning-free, then build and run
# the same suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
# then a ThreadSanitizer build under the mixed-load test (tests/tsan).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
bash tests/deps.sh

echo "== format check (clang-format, .clang-format; broker/ and its unit tests)"
find broker tests/unit/broker -name '*.[ch]' -print0 | xargs -0 clang-format --dry-run -Werror

echo "== Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== clang build (-Wall -Wextra -Werror)"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-clang -j"$jobs"

echo "== ASan+UBSan build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== TSan build and mixed-load test"
# Only the broker and warrenctl are built: the TSan tests drive them with real
# clients. The broker halts at the first race (the tests set TSAN_OPTIONS
# halt_on_error=1 for it) and the tests also scan its log for reports.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWARREN_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs" --target warren warrenctl
ctest --test-dir build-tsan --output-on-failure -L tsan

echo "== fuzzing"
bash tests/fuzz/run.sh
