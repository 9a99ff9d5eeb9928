#!/bin/bash
# Run every interop test binary of a build against the reference RabbitMQ.
#   tests/interop/against-rabbitmq.sh BUILD_DIR [PORT]
# Starts ../shared/tools/reference-rabbitmq (beside the repo) on PORT (default 5699), runs
# each interop_test_* found under BUILD_DIR with WARREN_AMQP_PORT=PORT (so the
# harness uses that broker instead of starting Warren), prints a per-binary
# PASS/FAIL summary, stops the broker, and exits 1 if any binary failed
# (2 on usage/startup errors). Logs: $LOGDIR (default /tmp/against-rabbitmq-PORT).
# Env: JOBS (Criterion --jobs, default 2), REFERENCE_RABBITMQ (start script).
set -u
build=${1:?usage: against-rabbitmq.sh BUILD_DIR [PORT]}
port=${2:-5699}
jobs=${JOBS:-2}
starter=${REFERENCE_RABBITMQ:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/tools/reference-rabbitmq}
logdir=${LOGDIR:-/tmp/against-rabbitmq-$port}

mapfile -t bins < <(find "$build" -maxdepth 4 -type f -name 'interop_test_*' -perm -u+x | sort)
if [ ${#bins[@]} -eq 0 ]; then
  echo "against-rabbitmq: no interop_test_* binaries under $build" >&2
  exit 2
fi
if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
  echo "against-rabbitmq: port $port already in use" >&2
  exit 2
fi

echo "starting reference RabbitMQ on port $port ..."
pid=$("$starter" "$port") || { echo "against-rabbitmq: broker did not start" >&2; exit 2; }
# The access tests use the users, vhosts and permissions of a definitions file
# exported from RabbitMQ 3.10 (Warren loads it at boot): load it here too.
fixture=$(cd "$(dirname "$0")/../fixtures" && pwd)/rabbitmq-3.10-definitions.json
if [ -f "$fixture" ]; then
  RABBITMQ_NODENAME=ref$port@localhost rabbitmqctl -q -n "ref$port@localhost" import_definitions "$fixture" >/dev/null \
    || echo "against-rabbitmq: could not import $fixture (the access tests will fail)" >&2
fi
stop_broker() {
  [ -n "${pid:-}" ] || return
  kill "$pid" 2>/dev/null
  for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  pid=
}
trap stop_broker EXIT
trap 'exit 130' INT TERM

mkdir -p "$logdir"
failed=0
summary=()
for bin in "${bins[@]}"; do
  name=$(basename "$bin")
  log=$logdir/$name.log
  start=$(date +%s)
  WARREN_AMQP_PORT=$port timeout 900 "$bin" --jobs "$jobs" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  synth=$(grep -a 'Synthesis:' "$log" | tail -1 | sed 's/.*Synthesis: //')
  if [ $rc -eq 0 ]; then
    summary+=("PASS  $name  (${secs}s)  $synth")
  else
    failed=$((failed + 1))
    summary+=("FAIL  $name  (${secs}s, exit $rc)  $synth")
    while IFS= read -r line; do summary+=("        $line"); done \
      < <(grep -a -E '^\[FAIL\]' "$log" | head -30)
  fi
done

echo
echo "== interop tests against reference RabbitMQ (port $port) =="
printf '%s\n' "${summary[@]}"
echo "logs: $logdir"
if [ $failed -ne 0 ]; then
  echo "$failed of ${#bins[@]} binaries FAILED"
  exit 1
fi
echo "all ${#bins[@]} binaries passed"
exit 0
