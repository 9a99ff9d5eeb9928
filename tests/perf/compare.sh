#!/bin/bash
# compare.sh — Warren vs the reference RabbitMQ, side by side, same machine,
# same load tools. Writes a markdown table of medians and Warren/RabbitMQ
# ratios to tests/perf/RESULTS.md (or --out FILE).
#
#   tests/perf/compare.sh [--build DIR] [--quick] [--scenarios a,b,...] [--runs N]
#                         [--out FILE] [--warren-port P] [--rabbit-port P] [--no-amqpload]
#
#   --build DIR     build dir holding warren and warren-perf (default: build-perf)
#   --quick         3 s per run instead of 10 (preload 200k instead of 1M for h)
#   --scenarios L   comma-separated subset of: t s g a b c d e f h (default: all)
#   --runs N        runs per scenario and broker (default 3); medians are reported
#   --no-amqpload   skip the rabbitmq-c amqpload runs on a-c
#
# Scenarios (warren-perf unless noted):
#   t  tool ceiling: --self-test, 16 B publishes into an in-process frame parser (no broker)
#   s  16 B publishes into the broker's sink (amq.direct, unroutable key, no consumers)
#   g  10,000 idle connections: broker RSS per connection (VmRSS before/after; beam.smp for RabbitMQ)
#   a  16 B transient, 1 producer 1 consumer, auto-ack
#   b  16 B transient, manual ack, prefetch 1000, multi-ack every 100
#   c  1 KB persistent to a durable queue, 1000 confirms in flight (consumer as in b)
#   d  fanout 1 -> 10 queues (10 consumers, auto-ack)
#   e  64 producers -> 1 queue (1 consumer, auto-ack)
#   f  latency at a fixed 10,000 msgs/s (manual ack, prefetch 1000, multi-ack 100)
#   h  1M-message backlog (preloaded with confirms), drained while publishing continues at
#      10,000 msgs/s; drain rate compared with the empty-queue consume rate of b
# and amqpload (rabbitmq-c, --raw) on a, b, c, its count sized to ~T seconds per broker.
# Every run is bounded (`timeout`) and starts on a freshly (re)started broker, so no
# backlog or garbage from an earlier run is left behind. Runs alternate between the brokers.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-perf
out=$here/RESULTS.md
quick=0
runs=3
scenarios="t s g a b c d e f h"
wport=25801
rport=20802  # its Erlang distribution port is rport+10000: kept below the ephemeral range
             # (32768+), where a busy client's connections can hold it (RabbitMQ then refuses to start)
use_amqpload=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd); shift ;;
    --quick) quick=1 ;;
    --scenarios) scenarios=$(echo "$2" | tr ',' ' '); shift ;;
    --runs) runs=$2; shift ;;
    --out) out=$2; shift ;;
    --warren-port) wport=$2; shift ;;
    --rabbit-port) rport=$2; shift ;;
    --no-amqpload) use_amqpload=0 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

warren=$build/warren
perf=$build/warren-perf
[ -x "$warren" ] && [ -x "$perf" ] || { echo "compare.sh: build $build first (warren, warren-perf)" >&2; exit 2; }
py=/usr/bin/python3
T=10; preload=1000000; htime=20
[ "$quick" = 1 ] && { T=3; preload=200000; htime=8; }
idle=10000

work=$(mktemp -d /tmp/warren-compare.XXXXXX)
mkdir -p "$work/res"
wpid= rpid=
cleanup() {
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  sleep 1
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# ---- brokers ----
start_warren() {
  rm -rf "$work/warren-data"
  "$warren" --port "$wport" --bind 127.0.0.1 --data-dir "$work/warren-data" >>"$work/warren.log" 2>&1 &
  wpid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$wport") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "compare.sh: warren did not start; see $work/warren.log" >&2; exit 1
}
start_rabbit() {
  # `su rabbitmq` (inside rabbitmq-server) resets the soft fd limit to 1024, which caps
  # RabbitMQ at ~830 sockets; an env file (read by rabbitmq-env) raises it to the hard limit.
  chmod 755 "$work"
  echo "ulimit -n $(ulimit -Hn)" >"$work/rabbitmq-env.conf"
  chmod 644 "$work/rabbitmq-env.conf"
  rpid=$(RABBITMQ_CONF_ENV_FILE=$work/rabbitmq-env.conf "$root/../shared/tools/reference-rabbitmq" "$rport") || { echo "compare.sh: RabbitMQ did not start" >&2; exit 1; }
}
restart() { # broker context: every run gets a freshly started broker (no backlog left by the last run)
  kill -0 "$(pid_of "$1")" 2>/dev/null || { echo "$1 was found dead before $2 (a crash in the run before?)" >>"$work/notes"; log "$1 had died"; }
  if [ "$1" = warren ]; then
    kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null; start_warren
  else
    kill "$rpid" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
    start_rabbit
  fi
}
port_of() { [ "$1" = warren ] && echo "$wport" || echo "$rport"; }
pid_of() { [ "$1" = warren ] && echo "$wpid" || echo "$rpid"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---- scenarios ----
declare -A desc args
desc[t]="tool ceiling: 16 B publishes into warren-perf's in-process sink (no broker)"
args[t]="--self-test --size 16"
desc[s]="16 B publishes into the broker's sink (unroutable, no consumers)"
args[s]="--sink --size 16"
desc[a]="16 B transient, 1 producer 1 consumer, auto-ack"
args[a]="--size 16 --autoack"
desc[b]="16 B transient, manual ack, prefetch 1000, multi-ack 100"
args[b]="--size 16 --prefetch 1000 --multi-ack 100"
desc[c]="1 KB persistent, durable queue, 1000 confirms in flight"
args[c]="--size 1024 --persistent --durable --confirm 1000 --prefetch 1000 --multi-ack 100"
desc[d]="fanout 1 -> 10 queues, 16 B, auto-ack (consume = deliveries)"
args[d]="--size 16 --exchange-type fanout --queues 10 --consumers 10 --autoack"
desc[e]="64 producers -> 1 queue, 16 B, auto-ack"
args[e]="--size 16 --producers 64 --autoack"
desc[f]="latency at a fixed 10,000 msgs/s, 16 B"
args[f]="--size 16 --rate 10000 --prefetch 1000 --multi-ack 100"
desc[h]="backlog of $preload x 16 B drained while publishing continues at 10,000 msgs/s"
args[h]="--size 16 --preload $preload --rate 10000 --prefetch 1000 --multi-ack 100"
desc[g]="$idle idle connections (channel open, heartbeat off): broker RSS per connection"

declare -A amq_args
amq_args[a]="--size 16 --autoack --raw"
amq_args[b]="--size 16 --prefetch 1000 --raw"
amq_args[c]="--size 1024 --persistent --durable --confirm 1000 --raw"

echo -n >"$work/commands"
note_cmd() { # scenario, template (first time only)
  grep -q "^$1	" "$work/commands" || printf '%s\t%s\n' "$1" "$2" >>"$work/commands"
}

run_perf() { # scenario broker run
  local s=$1 b=$2 r=$3 t=$T port
  port=$(port_of "$b")
  [ "$s" = h ] && t=$htime
  local a="--port $port --json --quiet --time $t --drain-timeout $t ${args[$s]}"
  [ "$s" = t ] && a="--json --quiet --time $t ${args[$s]}"
  note_cmd "$s" "warren-perf ${a/--port $port/--port PORT}"
  local f="$work/res/${s}_${b}_${r}.json"
  # shellcheck disable=SC2086
  timeout $((3 * t + 120)) "$perf" $a >"$f.tmp" 2>"$work/res/${s}_${b}_${r}.err"
  local rc=$?
  if [ $rc -eq 0 ] || $py -c 'import json,sys; json.load(open(sys.argv[1]))' "$f.tmp" 2>/dev/null; then
    mv "$f.tmp" "$f"
  else
    echo "{\"error\":\"exit $rc: $(tail -1 "$work/res/${s}_${b}_${r}.err" | tr -d '"\\')\"}" >"$f"
  fi
  [ $rc -eq 0 ] || log "$s/$b/$r: warren-perf exit $rc: $(tail -1 "$work/res/${s}_${b}_${r}.err")"
}

run_idle() { # broker run: RSS of the broker before/after $idle idle connections
  local b=$1 r=$2 port pid before after err="$work/res/g_${b}_${r}.err"
  port=$(port_of "$b"); pid=$(pid_of "$b")
  note_cmd g "warren-perf --port PORT --json --idle-connections $idle --time 8   (VmRSS of the broker read before, and 3 s after the 'ready' line)"
  sleep 2
  before=$(rss_kb "$pid")
  timeout 300 "$perf" --port "$port" --json --idle-connections "$idle" --time 8 >"$work/res/g_${b}_${r}.out" 2>"$err" &
  local tpid=$!
  for _ in $(seq 2400); do
    grep -q ready "$err" 2>/dev/null && break
    kill -0 "$tpid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 3
  after=$(rss_kb "$pid")
  wait "$tpid"
  local rc=$?
  $py - "$work/res/g_${b}_${r}.out" "$before" "$after" "$idle" "$rc" >"$work/res/g_${b}_${r}.json" <<'EOF'
import json, sys
path, before, after, n, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
try:
    r = json.load(open(path))
except Exception:
    r = {}
if rc != 0 or r.get("opened") != n:
    print(json.dumps({"error": "exit %d, opened %s of %d" % (rc, r.get("opened"), n)}))
else:
    print(json.dumps({"rss_before_kb": before, "rss_after_kb": after,
                      "per_conn_kb": (after - before) / n, "open_secs": r["open_secs"],
                      "conn_per_sec": n / r["open_secs"] if r["open_secs"] else 0}))
EOF
  sleep 3 # let the broker tear the connections down
}

median_rate() { # scenario broker -> median consume_rate (for sizing amqpload)
  $py - "$work/res" "$1" "$2" <<'EOF'
import json, glob, statistics, sys
d, s, b = sys.argv[1:]
v = []
for f in glob.glob("%s/%s_%s_*.json" % (d, s, b)):
    try: v.append(json.load(open(f))["consume_rate"])
    except Exception: pass
print(int(statistics.median(v)) if v else 0)
EOF
}

run_amqpload() { # scenario broker run
  local s=$1 b=$2 r=$3 port rate count f="$work/res/amqpload_${1}_${2}_${3}.json"
  port=$(port_of "$b")
  rate=$(median_rate "$s" "$b")
  [ "$rate" -gt 0 ] || { [ "$b" = warren ] && rate=1000000 || rate=50000; }
  count=$((rate * T)); [ $count -lt 100000 ] && count=100000; [ $count -gt 20000000 ] && count=20000000
  note_cmd "amqpload_$s" "amqpload --port PORT --count N ${amq_args[$s]}   (N = max(100000, T x the broker's warren-perf consume rate))"
  # shellcheck disable=SC2086
  timeout $((6 * T + 120)) "$work/amqpload" --port "$port" --count "$count" ${amq_args[$s]} >"$f.tmp" 2>"$f.err"
  local rc=$?
  if [ $rc -eq 0 ]; then mv "$f.tmp" "$f"
  else echo "{\"error\":\"exit $rc: $(tail -1 "$f.err" | tr -d '"\\')\"}" >"$f"; log "amqpload $s/$b/$r: exit $rc"; fi
}

# ---- go ----
log "work dir $work; T=$T s, runs=$runs, scenarios: $scenarios"
if [ "$use_amqpload" = 1 ]; then
  gcc -O2 -o "$work/amqpload" "$root/../shared/tools/amqpload.c" -lrabbitmq -lpthread || use_amqpload=0
fi
start_warren
start_rabbit
log "warren pid $wpid on $wport, RabbitMQ (beam.smp) pid $rpid on $rport"
t_begin=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
order="t s g a b c d e f h"
for s in $order; do
  case " $scenarios " in *" $s "*) ;; *) continue ;; esac
  for r in $(seq "$runs"); do
    if [ "$s" = t ]; then log "t run $r"; run_perf t tool "$r"; continue; fi
    for b in warren rabbitmq; do
      restart "$b" "$s run $r"
      log "$s $b run $r"
      if [ "$s" = g ]; then run_idle "$b" "$r"; else run_perf "$s" "$b" "$r"; fi
    done
  done
  if [ "$use_amqpload" = 1 ] && [ -n "${amq_args[$s]:-}" ]; then
    for r in $(seq "$runs"); do
      for b in warren rabbitmq; do restart "$b" "amqpload $s run $r"; log "amqpload $s $b run $r"; run_amqpload "$s" "$b" "$r"; done
    done
  fi
done
t_end=$(date +%s)
kill -0 "$wpid" 2>/dev/null || echo "warren was found dead at the end" >>"$work/notes"
wver=$(grep -o 'Warren [0-9.]*' "$work/warren.log" | head -1)

# ---- report ----
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
ram=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
rver=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null)
ever=$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null)
gitrev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null)
for s in $order; do echo "$s	${desc[$s]:-}"; done >"$work/descs"
$py - "$work" "$out" <<EOF
import json, glob, os, statistics, sys
work, out = sys.argv[1], sys.argv[2]
meta = {
  "date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "nproc": "$(nproc)", "cpu": """$cpu""", "ram": "$ram",
  "warren": "${wver:-Warren} (git $gitrev, $build)", "rabbitmq": "rabbitmq-server $rver (Erlang $ever)",
  "kernel": "$(uname -r)", "quick": $quick, "T": $T, "runs": $runs, "minutes": ($t_end - $t_begin) / 60.0,
  "idle": $idle, "load": "$load0",
}
descs = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(work, "descs")))
cmds = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(work, "commands")) if "\t" in l)
notes = open(os.path.join(work, "notes")).read().splitlines() if os.path.exists(os.path.join(work, "notes")) else []

def results(prefix, broker):
    rs = []
    for f in sorted(glob.glob(os.path.join(work, "res", "%s_%s_*.json" % (prefix, broker)))):
        try: rs.append(json.load(open(f)))
        except Exception as e: rs.append({"error": str(e)})
    return rs

def med(prefix, broker, key):
    rs = results(prefix, broker)
    v = [r[key] for r in rs if key in r and "error" not in r and not r.get("failed")]
    bad = len(rs) - len(v)
    return (statistics.median(v) if v else None), bad, len(rs)

def fmt(x, key):
    if x is None: return "failed"
    if key.endswith("_us"): return "%.0f µs" % x if x >= 100 else "%.1f µs" % x
    if key.endswith("_kb"): return "%.1f KiB" % x
    if key.endswith("secs"): return "%.2f s" % x
    if key == "drained": return str(x)
    return "{:,.0f}".format(x)

rows = []
last_label = [None]
def row(label, prefix, key, what, lower_better=False):
    w, wb, wn = med(prefix, "warren", key)
    r, rb, rn = med(prefix, "rabbitmq", key)
    if wn == 0 and rn == 0: return
    ratio = "%.2f" % (w / r) if w is not None and r not in (None, 0) else "–"
    flag = lambda bad, n: " (%d/%d failed)" % (bad, n) if bad else ""
    shown = label if label != last_label[0] else ""
    last_label[0] = label
    rows.append("| %s | %s%s | %s%s | %s%s | %s |" % (shown, what, " ↓" if lower_better else "",
        fmt(w, key), flag(wb, wn), fmt(r, key), flag(rb, rn), ratio))

def perf_rows(s, label):
    for key, what, low in [("publish_rate", "publish msg/s", 0), ("consume_rate", "consume msg/s", 0),
                           ("lat_p50_us", "latency p50", 1), ("lat_p99_us", "latency p99", 1)]:
        row(label, s, key, what, low)

L = []
L.append("# Warren vs RabbitMQ — load comparison")
L.append("")
L.append("Generated by \`tests/perf/compare.sh%s\`; do not edit by hand." % (" --quick" if meta["quick"] else ""))
L.append("")
L.append("- Date: %s; %d run(s) per scenario and broker, %s s each (medians shown); %.1f min of machine time" % (meta["date"], meta["runs"], meta["T"], meta["minutes"]))
L.append("- Machine: %s CPUs (%s), %s RAM; kernel %s" % (meta["nproc"], meta["cpu"], meta["ram"], meta["kernel"]))
L.append("- Brokers: %s; %s (reference-rabbitmq; default config but for the fd limit below)" % (meta["warren"], meta["rabbitmq"]))
L.append("- Load average when the comparison started: %s (the machine may be shared with other jobs; figures are noisy)" % meta["load"])
L.append("- Both brokers, the load tool and its consumers share the same %s CPUs: every figure includes client cost." % meta["nproc"])
L.append("- Ratio = Warren / RabbitMQ: above 1 means Warren is higher (better for rates; for rows marked ↓, lower is better).")
L.append("- RabbitMQ's only change from defaults: its soft fd limit is raised to the hard limit (%s) via RABBITMQ_CONF_ENV_FILE, so it can take the idle connections of g (with 1024 it stops at ~830 sockets)." % "$(ulimit -Hn)")
L.append("- Scenario c: Warren confirms a persistent message only after fdatasync has covered its log record (group commit); RabbitMQ 3.10 classic queues confirm without an fsync per message.")
for n in notes: L.append("- **%s**" % n)
L.append("")
L.append("| scenario | metric | Warren | RabbitMQ | Warren/RabbitMQ |")
L.append("|---|---|---:|---:|---:|")
for s in ["s", "a", "b", "c", "d", "e"]:
    if s == "s": row("s: " + descs[s], s, "publish_rate", "publish msg/s")
    else: perf_rows(s, s + ": " + descs[s])
for key, what in [("lat_p50_us", "latency p50"), ("lat_p95_us", "latency p95"), ("lat_p99_us", "latency p99"), ("lat_max_us", "latency max"), ("consume_rate", "achieved msg/s")]:
    row("f: " + descs["f"], "f", key, what, key != "consume_rate")
row("g: " + descs["g"], "g", "per_conn_kb", "RSS per connection", True)
row("g: " + descs["g"], "g", "open_secs", "time to open them", True)
row("h: " + descs["h"], "h", "preload_rate", "backlog publish msg/s (confirms)")
row("h: " + descs["h"], "h", "drain_rate", "drain msg/s")
row("h: " + descs["h"], "h", "drain_secs", "drain time", True)
row("h: " + descs["h"], "b", "consume_rate", "empty-queue consume msg/s (= b)")
for s in ["a", "b", "c"]:
    for key, what, low in [("rate", "msg/s", 0), ("lat_p50_us", "latency p50", 1), ("lat_p99_us", "latency p99", 1)]:
        row("amqpload %s: %s" % (s, descs[s]), "amqpload_" + s, key, what, low)
L += rows
t, tb, tn = med("t", "tool", "publish_rate")
if tn:
    L.append("")
    L.append("Tool ceiling (t, no broker): warren-perf publishes **%s msg/s** of 16 B messages (median of %d) into an in-process reader that parses every frame — far above either broker, so the tool is not the bottleneck." % (fmt(t, "publish_rate"), tn))
# drain vs empty
hb = []
for b in ["warren", "rabbitmq"]:
    d, _, _ = med("h", b, "drain_rate"); e, _, _ = med("b", b, "consume_rate")
    if d and e: hb.append("%s drains a backlog at %.2f× its empty-queue consume rate" % ("Warren" if b == "warren" else "RabbitMQ", d / e))
if hb:
    L.append("")
    L.append("Backlog (h): " + "; ".join(hb) + ".")
L.append("")
L.append("## Commands")
L.append("")
L.append("PORT is the broker's side port (Warren started as \`warren --port PORT --bind 127.0.0.1 --data-dir DIR\`; RabbitMQ with \`../shared/tools/reference-rabbitmq PORT\`, from the repo root). amqpload is \`gcc -O2 -o amqpload ../shared/tools/amqpload.c -lrabbitmq -lpthread\`.")
L.append("")
for k in sorted(cmds): L.append("- %s: \`%s\`" % (k, cmds[k]))
L.append("")
# Sections written by other tools (after the marker line) are kept as they are.
MARK = "<!-- kept by compare.sh: sections below are written by other tools -->"
tail = ""
if os.path.exists(out):
    old = open(out).read()
    if MARK in old:
        tail = "\n" + old[old.index(MARK):]
open(out, "w").write("\n".join(L) + tail)
print("\n".join(L))
EOF
log "wrote $out (raw results in $work/res)"
