#!/bin/bash
# Start Warren on port 5672 (all interfaces, so 127.0.0.1 and ::1), run the amqplib
# and amqp091-go client suites against it, then stop it with SIGTERM.
#
#   tests/clients/run-against-warren.sh WARREN_BIN [--skip-file FILE] [--config CONF]
#
# CONF is Warren's --config file, by default warren.conf next to this script
# (product.name = RabbitMQ: amqplib checks the server's product).
# FILE may list tests of both suites: lines that look like Go test names
# (^Test... / ^Example...) go to amqp091-go.sh, all others ("Suite > ... > title")
# to amqplib.sh; '#' starts a comment.
# Port 5672 must be free: amqplib's suite hard-codes it (see amqplib.sh).
# Exit status 0 only if both suites pass, Warren stayed up, and Warren exited 0 on
# SIGTERM (so a sanitizer report at exit fails the run). Warren's log is printed
# (tail) on failure and kept in the results directory.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${1:?usage: run-against-warren.sh WARREN_BIN [--skip-file FILE] [--config CONF]}
shift
skip_file=
config=$here/warren.conf
while [ $# -gt 0 ]; do
  case $1 in
    --skip-file) [ $# -ge 2 ] || { echo "--skip-file needs a FILE" >&2; exit 2; }
                 skip_file=$(realpath "$2") || exit 2; shift 2 ;;
    --config) [ $# -ge 2 ] || { echo "--config needs a CONF file" >&2; exit 2; }
              config=$(realpath "$2") || exit 2; shift 2 ;;
    *) echo "run-against-warren.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "run-against-warren.sh: $bin is not executable" >&2; exit 2; }
bin=$(realpath "$bin")

listening() { (exec 3<>"/dev/tcp/$1/5672") 2>/dev/null; }
for host in 127.0.0.1 ::1; do
  if listening $host; then
    echo "run-against-warren.sh: something already listens on $host:5672; stop it first" >&2
    exit 2
  fi
done

work=$(mktemp -d /tmp/warren-clients.XXXXXX)
data=$(mktemp -d /tmp/warren-clients-data.XXXXXX)
log=$work/warren.log
pid=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; fi
  rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$skip_file" ]; then
  sed 's/[[:space:]]*#.*//; s/^[[:space:]]*//; s/[[:space:]]*$//; /^$/d' "$skip_file" >"$work/all-skips"
  grep -E '^(Test|Example)[A-Za-z0-9_]*$' "$work/all-skips" >"$work/go-skips"
  grep -vE '^(Test|Example)[A-Za-z0-9_]*$' "$work/all-skips" >"$work/js-skips"
fi

"$bin" --config "$config" --port 5672 --data-dir "$data" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  listening 127.0.0.1 && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! kill -0 "$pid" 2>/dev/null || ! listening 127.0.0.1; then
  echo "run-against-warren.sh: warren did not start listening on 5672:" >&2
  tail -20 "$log" >&2
  exit 2
fi
echo "run-against-warren.sh: warren pid $pid on port 5672, config $config, log $log"

status=0
run_suite() { # NAME SCRIPT SKIPS
  local name=$1 script=$2 skips=$3 rc
  echo; echo "===== $name ====="
  if [ -n "$skip_file" ]; then
    AMQP_PORT=5672 "$here/$script" --skip-file "$skips"
  else
    AMQP_PORT=5672 "$here/$script"
  fi
  rc=$?
  [ $rc -eq 0 ] || status=1
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "run-against-warren.sh: WARREN DIED during $name; log tail:"
    tail -30 "$log"
    status=1
    return 1
  fi
  summary+=("$name: $([ $rc -eq 0 ] && echo PASS || echo "FAIL (exit $rc)")")
}
summary=()
run_suite amqplib amqplib.sh "$work/js-skips" && run_suite amqp091-go amqp091-go.sh "$work/go-skips"

if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "run-against-warren.sh: warren ignored SIGTERM for 10s; sending SIGKILL"
    kill -KILL "$pid"
    status=1
  fi
fi
wait "$pid"
wrc=$?
pid=
if [ $wrc -ne 0 ]; then
  echo "run-against-warren.sh: warren exited with status $wrc; log tail:"
  tail -30 "$log"
  status=1
fi

echo; echo "===== summary ====="
for s in "${summary[@]}"; do echo "  $s"; done
echo "  warren exit status: $wrc"
echo "run-against-warren: $([ $status = 0 ] && echo PASS || echo FAIL); warren log $log"
exit $status
