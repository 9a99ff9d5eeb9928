#!/usr/bin/env bash
# The fuzzing stage of tests/run.sh, bounded in time (4 minutes of fuzzing, plus the builds):
#  1. the in-process libFuzzer targets, built with clang into build-fuzz, each run
#     over its checked-in seed corpus for a fixed time (a copy of the corpus grows in
#     build-fuzz/corpus); inputs saved under tests/fuzz/regressions/TARGET/ are run first;
#  2. the whole-broker fuzzer (broker_fuzz.py): mutated recordings of real client
#     sessions replayed over TCP against the ASan+UBSan broker (build-asan/warren,
#     built here if missing), after replaying tests/fuzz/regressions/broker/ as is;
#     over plain TCP, then over TLS (a client certificate, tests/tls/gen-certs.sh).
# Any crash, sanitizer report or failed check fails the stage; the input is kept
# in build-fuzz/artifacts (libFuzzer) or build-fuzz/broker-failures (broker).
# FUZZ_SCALE=N multiplies every time (e.g. FUZZ_SCALE=10 for a long run).
set -euo pipefail
cd "$(dirname "$0")/../.."
scale=${FUZZ_SCALE:-1}
jobs=$(nproc)

# target, seconds, seed corpus, extra libFuzzer options. A target the build does not
# define is skipped, so fuzz_definitions (broker/fuzz, option WARREN_BROKER_FUZZ)
# runs once it exists.
targets=(
  "fuzz_amqp 60 tests/fuzz/corpus/amqp"
  "fuzz_config 30 tests/fuzz/corpus/config"
  "fuzz_definitions 40 broker/fuzz/seeds -dict=broker/fuzz/definitions.dict"
)
broker_seconds=90 # plain TCP; then the same over TLS:
broker_tls_seconds=30

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWARREN_TESTS=OFF \
  -DWARREN_AMQP_FUZZ=ON -DWARREN_CONFIG_FUZZ=ON -DWARREN_BROKER_FUZZ=ON --no-warn-unused-cli >/dev/null
known=$(cmake --build build-fuzz --target help | sed -n 's/^\.\.\. \(fuzz_[a-z_]*\).*/\1/p')
mkdir -p build-fuzz/artifacts
for t in "${targets[@]}"; do
  read -r name secs corpus extra <<<"$t"
  if ! grep -qx "$name" <<<"$known"; then
    echo "-- $name: not defined by this tree, skipped"
    continue
  fi
  cmake --build build-fuzz -j"$jobs" --target "$name" >/dev/null
  bin=$(find build-fuzz -type f -name "$name" -perm -u+x | head -1)
  regress=tests/fuzz/regressions/$name
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
    "$bin" "$regress"/* >build-fuzz/artifacts/$name-regressions.log 2>&1 || {
      echo "-- $name: a saved regression input fails again:"; tail -40 build-fuzz/artifacts/$name-regressions.log; exit 1; }
    echo "-- $name: $(ls "$regress" | wc -l) regression inputs pass"
  fi
  work=build-fuzz/corpus/$name
  mkdir -p "$work"
  [ -d "$corpus" ] && cp -n "$corpus"/* "$work"/ 2>/dev/null || true
  run_secs=$((secs * scale))
  logf=build-fuzz/artifacts/$name.log
  echo "-- $name: ${run_secs} s over $(ls "$work" | wc -l) corpus inputs"
  # shellcheck disable=SC2086 # $extra: zero or more options
  if ! "$bin" -max_total_time="$run_secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 $extra \
      -artifact_prefix=build-fuzz/artifacts/$name- "$work" >"$logf" 2>&1; then
    echo "-- $name FAILED:"; tail -60 "$logf"
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logf" | tail -1)
    if [ -n "$crash" ]; then
      echo "-- $name: the input again, with the target's own output:"
      "$bin" "$crash" 2>&1 | grep -v '^ *#[0-9]* 0x' | tail -40 || true
    fi
    exit 1
  fi
  echo "-- $name: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$logf"), corpus now $(ls "$work" | wc -l)"
done

if [ ! -x build-asan/warren ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWARREN_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs" --target warren >/dev/null
fi
if [ -d tests/fuzz/regressions/broker ] && [ -n "$(ls -A tests/fuzz/regressions/broker)" ]; then
  /usr/bin/python3 tests/fuzz/broker_fuzz.py --warren build-asan/warren --out build-fuzz/broker-failures \
    --replay tests/fuzz/regressions/broker/*
fi
/usr/bin/python3 tests/fuzz/broker_fuzz.py --warren build-asan/warren --seconds $((broker_seconds * scale)) \
  --out build-fuzz/broker-failures
/usr/bin/python3 tests/fuzz/broker_fuzz.py --warren build-asan/warren --seconds $((broker_tls_seconds * scale)) \
  --tls --out build-fuzz/broker-failures-tls
