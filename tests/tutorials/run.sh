#!/bin/bash
# Runs the seven RabbitMQ tutorials end to end, unattended, the way their readers
# run them (receivers in the background, then the senders), and asserts the outcome.
#
#   run.sh pika            the Python tutorials in pika/ (run with /usr/bin/python3)
#   run.sh c BINDIR        the C tutorials (rabbitmq-c), built into BINDIR
#
# Broker: if AMQP_PORT is set, the broker already listening on AMQP_HOST:AMQP_PORT
# (AMQP_HOST default 127.0.0.1) is used. Otherwise $WARREN_BIN is started on a free
# port with a fresh data dir and stopped with SIGTERM at the end (exit status must be 0).
#
# Prints one PASS/FAIL line per tutorial and ends with "N passed, M failed";
# exits non-zero if anything failed. TUT_KEEP=1 keeps the logs directory.
set -u

usage() { echo "usage: $0 pika|c [C-binaries-dir]" >&2; exit 2; }
LANG_=${1:-}
BINDIR=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
case $LANG_ in
  pika) ;;
  c) [ -n "$BINDIR" ] && [ -d "$BINDIR" ] || usage; BINDIR=$(cd "$BINDIR" && pwd) ;;
  *) usage ;;
esac

WORK=$(mktemp -d /tmp/tutorials-"$LANG_".XXXXXX)
BROKER_PID=
BG_PIDS=()
passed=0
failed=0

cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  if [ -n "$BROKER_PID" ]; then kill -KILL "$BROKER_PID" 2>/dev/null; fi
  if [ "${TUT_KEEP:-0}" = 1 ] || [ "$failed" -ne 0 ]; then
    echo "logs kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- broker

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

start_broker() {
  export AMQP_HOST=${AMQP_HOST:-127.0.0.1}
  if [ -n "${AMQP_PORT:-}" ]; then
    port_open "$AMQP_HOST" "$AMQP_PORT" || { echo "no broker on $AMQP_HOST:$AMQP_PORT" >&2; exit 1; }
    return
  fi
  [ -n "${WARREN_BIN:-}" ] && [ -x "$WARREN_BIN" ] || { echo "set AMQP_PORT or WARREN_BIN" >&2; exit 2; }
  AMQP_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export AMQP_HOST=127.0.0.1 AMQP_PORT
  mkdir -p "$WORK/data"
  "$WARREN_BIN" --port "$AMQP_PORT" --bind 127.0.0.1 --data-dir "$WORK/data" --threads 2 \
    >"$WORK/broker.log" 2>&1 &
  BROKER_PID=$!
  local i
  for i in $(seq 100); do
    port_open 127.0.0.1 "$AMQP_PORT" && return
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "broker did not listen on port $AMQP_PORT; log:" >&2
  cat "$WORK/broker.log" >&2
  exit 1
}

# Stops the broker we started; returns non-zero unless it exits 0 within 20 s.
stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  kill -TERM "$BROKER_PID"
  local i rc
  for i in $(seq 200); do
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$BROKER_PID" 2>/dev/null; then
    echo "broker: still running 20 s after SIGTERM" >&2
    return 1
  fi
  wait "$BROKER_PID"; rc=$?
  BROKER_PID=
  if [ "$rc" -ne 0 ]; then
    echo "broker: exit status $rc after SIGTERM; log tail:" >&2
    tail -n 20 "$WORK/broker.log" >&2
    return 1
  fi
}

# ---------------------------------------------------------------- helpers

# prog NAME: sets CMD to the command line of tutorial program NAME.
prog() {
  if [ "$LANG_" = pika ]; then CMD=("$PY" -u "$HERE/pika/$1.py"); else CMD=("$BINDIR/$1"); fi
}

# run NAME LOG ARGS...: runs a tutorial program in the foreground (20 s limit),
# appending its output to LOG. Fails if it fails.
run() {
  local name=$1 log=$2; shift 2
  local rc=0
  prog "$name"
  timeout 20 "${CMD[@]}" "$@" >>"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "  $name $*: exit status $rc; output:" >&2
    sed 's/^/    /' "$log" >&2
    return 1
  fi
}

# start VAR NAME LOG ARGS...: starts a tutorial program in the background
# (60 s limit), output to LOG; stores its pid in VAR.
start() {
  local var=$1 name=$2 log=$3; shift 3
  prog "$name"
  timeout 60 "${CMD[@]}" "$@" >"$log" 2>&1 &
  printf -v "$var" %s $!
  BG_PIDS+=($!)
}

# await PID NAME: waits for a background program; fails unless it exited 0.
await() {
  local rc
  wait "$1"; rc=$?
  if [ "$rc" -ne 0 ]; then echo "  $2: exit status $rc" >&2; return 1; fi
}

# wait_line LOG TEXT [SECONDS]: waits until LOG has a line equal to TEXT.
wait_line() {
  local i
  for i in $(seq $((${3:-10} * 20))); do
    grep -qxF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "  $1: no line '$2' within ${3:-10} s; output:" >&2
  sed 's/^/    /' "$1" >&2
  return 1
}

# count_lines LOG TEXT: number of lines equal to TEXT.
count_lines() { grep -cxF -- "$2" "$1" 2>/dev/null; }

ctl() { "$PY" "$HERE/tutctl.py" "$@"; }

# same LOG EXPECTED_TEXT: asserts the (normalised) output of a program. Python
# prints bodies as b'...'; C prints '...'; both normalise to '...'.
same() {
  local got
  got=$(sed -E "s/b'([^']*)'/'\\1'/g" "$1")
  if [ "$got" != "$2" ]; then
    echo "  $1: unexpected output:" >&2
    diff <(echo "$2") <(echo "$got") | sed 's/^/    /' >&2
    return 1
  fi
}

WAITING=' [*] Waiting for messages. To exit press CTRL+C'
WAITING_LOGS=' [*] Waiting for logs. To exit press CTRL+C'

# ---------------------------------------------------------------- tutorials

t1_hello_world() {
  local d=$WORK/t1 rx
  mkdir -p "$d"
  ctl delete-queue hello || return 1
  TUT_EXPECT=1 start rx receive "$d/receive.log"
  wait_line "$d/receive.log" "$WAITING" && ctl wait-consumers hello 1 10 || return 1
  run send "$d/send.log" || return 1
  await "$rx" receive || return 1
  same "$d/send.log" " [x] Sent 'Hello World!'" &&
  same "$d/receive.log" "$WAITING
 [x] Received 'Hello World!'"
}

# Fair dispatch: with prefetch_count=1 the worker busy on the long first task
# gets nothing else, so the other worker takes all the short ones (round-robin
# without prefetch would alternate).
t2_work_queues() {
  local d=$WORK/t2 w1 w2 i tasks=("First message......" "Second message." "Third message." "Fourth message.")
  mkdir -p "$d"
  ctl delete-queue task_queue || return 1
  TUT_TIMEOUT=50 start w1 worker "$d/worker1.log"
  TUT_TIMEOUT=50 start w2 worker "$d/worker2.log"
  wait_line "$d/worker1.log" "$WAITING" && wait_line "$d/worker2.log" "$WAITING" &&
    ctl wait-consumers task_queue 2 10 || return 1
  for i in "${tasks[@]}"; do run new_task "$d/new_task.log" "$i" || return 1; done
  for i in $(seq 400); do
    [ $(( $(count_lines "$d/worker1.log" ' [x] Done') + $(count_lines "$d/worker2.log" ' [x] Done') )) -ge 4 ] && break
    sleep 0.05
  done
  # The reader stops the workers with CTRL+C; a background job ignores SIGINT, so SIGTERM.
  kill -TERM "$w1" "$w2"; wait "$w1" "$w2" 2>/dev/null
  same "$d/new_task.log" "$(printf ' [x] Sent %s\n' "${tasks[@]}")" || return 1
  local one=" [x] Received ${tasks[0]}
 [x] Done" rest
  rest=$(printf ' [x] Received %s\n [x] Done\n' "${tasks[@]:1}")
  if grep -qxF " [x] Received ${tasks[0]}" "$d/worker1.log"; then
    same "$d/worker1.log" "$WAITING
$one" && same "$d/worker2.log" "$WAITING
$rest"
  else
    same "$d/worker2.log" "$WAITING
$one" && same "$d/worker1.log" "$WAITING
$rest"
  fi
}

t3_publish_subscribe() {
  local d=$WORK/t3 r1 r2
  mkdir -p "$d"
  TUT_EXPECT=2 start r1 receive_logs "$d/receive_logs1.log"
  TUT_EXPECT=2 start r2 receive_logs "$d/receive_logs2.log"
  wait_line "$d/receive_logs1.log" "$WAITING_LOGS" &&
    wait_line "$d/receive_logs2.log" "$WAITING_LOGS" || return 1
  run emit_log "$d/emit_log.log" || return 1
  run emit_log "$d/emit_log.log" warning: disk almost full || return 1
  await "$r1" receive_logs1 && await "$r2" receive_logs2 || return 1
  local want="$WAITING_LOGS
 [x] 'info: Hello World!'
 [x] 'warning: disk almost full'"
  same "$d/emit_log.log" " [x] Sent info: Hello World!
 [x] Sent warning: disk almost full" &&
    same "$d/receive_logs1.log" "$want" && same "$d/receive_logs2.log" "$want"
}

# Each receiver's last expected message is the last one sent, so a message routed
# to the wrong receiver shows up in its output before it exits.
t4_routing() {
  local d=$WORK/t4 r1 r2
  mkdir -p "$d"
  TUT_EXPECT=2 start r1 receive_logs_direct "$d/errors.log" warning error
  TUT_EXPECT=3 start r2 receive_logs_direct "$d/all.log" info warning error
  wait_line "$d/errors.log" "$WAITING_LOGS" && wait_line "$d/all.log" "$WAITING_LOGS" || return 1
  run emit_log_direct "$d/emit.log" info Run. Run. Or it will explode. || return 1
  run emit_log_direct "$d/emit.log" debug chatter nobody listens to || return 1
  run emit_log_direct "$d/emit.log" error It exploded. || return 1
  run emit_log_direct "$d/emit.log" warning Last one. || return 1
  await "$r1" "receive_logs_direct warning error" && await "$r2" "receive_logs_direct info warning error" || return 1
  same "$d/emit.log" " [x] Sent info:Run. Run. Or it will explode.
 [x] Sent debug:chatter nobody listens to
 [x] Sent error:It exploded.
 [x] Sent warning:Last one." &&
  same "$d/errors.log" "$WAITING_LOGS
 [x] error:'It exploded.'
 [x] warning:'Last one.'" &&
  same "$d/all.log" "$WAITING_LOGS
 [x] info:'Run. Run. Or it will explode.'
 [x] error:'It exploded.'
 [x] warning:'Last one.'"
}

t5_topics() {
  local d=$WORK/t5 r1 r2 r3 r4 k
  mkdir -p "$d"
  TUT_EXPECT=7 start r1 receive_logs_topic "$d/all.log" '#'
  TUT_EXPECT=3 start r2 receive_logs_topic "$d/kern.log" 'kern.*'
  TUT_EXPECT=3 start r3 receive_logs_topic "$d/critical.log" '*.critical'
  TUT_EXPECT=4 start r4 receive_logs_topic "$d/kern_critical.log" 'kern.*' '*.critical'
  for k in all kern critical kern_critical; do wait_line "$d/$k.log" "$WAITING_LOGS" || return 1; done
  local sent=(
    "anonymous.info|Hello World!"        # all
    "kern.info|kernel booted"            # all, kern, kern_critical
    "cron.critical|cron died"            # all, critical, kern_critical
    "kern.disk.failure|three words"      # all ('kern.*' is exactly two words)
    "kern|one word"                      # all
    "kern.critical|A critical kernel error"  # everyone; once for kern_critical
    "kern.critical|final"                # everyone
  ) m
  for m in "${sent[@]}"; do run emit_log_topic "$d/emit.log" "${m%%|*}" "${m#*|}" || return 1; done
  for k in r1 r2 r3 r4; do await "${!k}" "receive_logs_topic ($k)" || return 1; done
  same "$d/all.log" "$WAITING_LOGS
 [x] anonymous.info:'Hello World!'
 [x] kern.info:'kernel booted'
 [x] cron.critical:'cron died'
 [x] kern.disk.failure:'three words'
 [x] kern:'one word'
 [x] kern.critical:'A critical kernel error'
 [x] kern.critical:'final'" &&
  same "$d/kern.log" "$WAITING_LOGS
 [x] kern.info:'kernel booted'
 [x] kern.critical:'A critical kernel error'
 [x] kern.critical:'final'" &&
  same "$d/critical.log" "$WAITING_LOGS
 [x] cron.critical:'cron died'
 [x] kern.critical:'A critical kernel error'
 [x] kern.critical:'final'" &&
  same "$d/kern_critical.log" "$WAITING_LOGS
 [x] kern.info:'kernel booted'
 [x] cron.critical:'cron died'
 [x] kern.critical:'A critical kernel error'
 [x] kern.critical:'final'"
}

# Both RPC clients against one server: a server-named exclusive callback queue,
# then direct reply-to (amq.rabbitmq.reply-to).
t6_rpc() {
  local d=$WORK/t6 srv
  mkdir -p "$d"
  ctl delete-queue rpc_queue || return 1
  TUT_EXPECT=6 start srv rpc_server "$d/server.log"
  wait_line "$d/server.log" " [x] Awaiting RPC requests" && ctl wait-consumers rpc_queue 1 10 || return 1
  run rpc_client "$d/client.log" 30 10 1 || return 1
  run rpc_client_direct "$d/client_direct.log" 0 20 25 || return 1
  await "$srv" rpc_server || return 1
  same "$d/client.log" " [x] Requesting fib(30)
 [.] Got 832040
 [x] Requesting fib(10)
 [.] Got 55
 [x] Requesting fib(1)
 [.] Got 1" &&
  same "$d/client_direct.log" " [x] Requesting fib(0)
 [.] Got 0
 [x] Requesting fib(20)
 [.] Got 6765
 [x] Requesting fib(25)
 [.] Got 75025" &&
  same "$d/server.log" " [x] Awaiting RPC requests
 [.] fib(30)
 [.] fib(10)
 [.] fib(1)
 [.] fib(0)
 [.] fib(20)
 [.] fib(25)"
}

# The program checks that every message was acked and enqueued (exit status);
# here we also check it reported all three strategies.
t7_publisher_confirms() {
  local d=$WORK/t7 n=${TUT_MESSAGE_COUNT:-5000} shown
  mkdir -p "$d"
  TUT_MESSAGE_COUNT=$n run publisher_confirms "$d/confirms.log" || return 1
  shown=$("$PY" -c "print(f'{$n:,}')")
  local got
  got=$(sed -E 's/ in [0-9,]+ ms$/ in T ms/' "$d/confirms.log")
  same <(echo "$got") "Published $shown messages individually in T ms
Published $shown messages in batch in T ms
Published $shown messages and handled confirms asynchronously in T ms"
}

# ---------------------------------------------------------------- main

start_broker
echo "tutorials ($LANG_) against $AMQP_HOST:$AMQP_PORT"
for t in t1_hello_world t2_work_queues t3_publish_subscribe t4_routing t5_topics t6_rpc \
         t7_publisher_confirms; do
  if "$t"; then
    echo "PASS ${t#t}"
    passed=$((passed + 1))
  else
    echo "FAIL ${t#t}"
    failed=$((failed + 1))
  fi
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  BG_PIDS=()
done
cat "$WORK"/t7/confirms.log 2>/dev/null | sed 's/^/  /'
broker_ok=0
stop_broker || broker_ok=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$broker_ok" -eq 0 ]
