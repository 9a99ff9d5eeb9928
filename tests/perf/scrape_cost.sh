#!/bin/bash
# scrape_cost.sh — what the management plane's scrapers cost the broker (issue 11,
# must-show 5): with 10,000 queues declared, compare.sh's scenario a (16 B transient,
# 1 producer 1 consumer, auto-ack) with and without a scraper that fetches
# /metrics/per-object (Prometheus) and, when the broker serves it, /api/queues
# (management HTTP API) once a second. Warren and the reference RabbitMQ, same machine.
# Writes its section of tests/perf/RESULTS.md (between its markers, below the part
# compare.sh regenerates), or --out FILE.
#
#   tests/perf/scrape_cost.sh [--build DIR] [--quick] [--runs N] [--queues N] [--no-rabbit] [--out FILE]
#
#   --build DIR   build dir with warren and warren-perf (default: build)
#   --quick       3 s per run instead of 10
#   --runs N      runs per broker and mode (default 3), alternating with/without; medians
#   --queues N    idle queues declared before the runs (default 10000)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
out=$here/RESULTS.md
T=10 runs=3 nq=10000 rabbit=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd); shift ;;
    --quick) T=3 ;;
    --runs) runs=$2; shift ;;
    --queues) nq=$2; shift ;;
    --no-rabbit) rabbit=0 ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "scrape_cost.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
warren=$build/warren perf=$build/warren-perf py=/usr/bin/python3
[ -x "$warren" ] && [ -x "$perf" ] || { echo "scrape_cost.sh: build $build first (warren, warren-perf)" >&2; exit 2; }
free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wport=$(free_port) wprom=$(free_port) wmgmt=$(free_port)
rport=${REF_PORT:-21721} rprom=${REF_PROM_PORT:-21723} rmgmt=${REF_MGMT_PORT:-21722}  # the reference (env to change)
work=$(mktemp -d /tmp/warren-scrape.XXXXXX)
wpid= rpid= spid=
cleanup() {
  # shellcheck disable=SC2086
  [ -n "$spid" ] && kill $spid 2>/dev/null
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  sleep 1
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# ---- brokers ----
start_warren() {
  {
    echo "prometheus.tcp.port = $wprom"
    "$warren" --print-config 2>/dev/null | grep -q '^management.tcp.port' && echo "management.tcp.port = $wmgmt"
  } >"$work/warren.conf"
  "$warren" --port "$wport" --bind 127.0.0.1 --data-dir "$work/warren-data" --config "$work/warren.conf" \
    >>"$work/warren.log" 2>&1 &
  wpid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$wport") 2>/dev/null && return 0; sleep 0.1; done
  echo "scrape_cost.sh: warren did not start; see $work/warren.log" >&2; exit 1
}
start_rabbit() {
  chmod 755 "$work"
  echo "ulimit -n $(ulimit -Hn)" >"$work/rabbitmq-env.conf"; chmod 644 "$work/rabbitmq-env.conf"
  rpid=$(RABBITMQ_CONF_ENV_FILE=$work/rabbitmq-env.conf REF_MGMT_PORT=$rmgmt REF_PROM_PORT=$rprom \
    "$root/../shared/tools/reference-rabbitmq" "$rport") || { echo "scrape_cost.sh: RabbitMQ did not start" >&2; exit 1; }
  for _ in $(seq 60); do curl -sf -o /dev/null "http://127.0.0.1:$rprom/metrics" && return 0; sleep 1; done
}
declare_queues() { # port n
  $py - "$1" "$2" <<'EOF'
import sys, pika
port, n = int(sys.argv[1]), int(sys.argv[2])
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
ch = c.channel()
for i in range(n):
    ch.queue_declare("idle-%05d" % i)
c.close()
EOF
}

# ---- a scraper: one endpoint once a second (a request starts each second unless the
# last one is still running), until killed; appends "seconds bytes" per fetch ----
scraper() { # url file [curl args]
  local url=$1 f=$2 t0 t1 left; shift 2
  while :; do
    t0=$(date +%s%N)
    curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$@" "$url" >>"$f"
    t1=$(date +%s%N)
    left=$((1000000000 - (t1 - t0)))
    [ $left -gt 0 ] && sleep "$(printf '0.%09d' $left)"
  done
}

run_a() { # broker port mode run
  local f="$work/res_${1}_${3}_${4}.json"
  timeout $((3 * T + 120)) "$perf" --port "$2" --json --quiet --time "$T" --drain-timeout "$T" --size 16 --autoack \
    >"$f" 2>"$f.err" || log "$1/$3/$4: warren-perf failed: $(tail -1 "$f.err")"
}

measure() { # broker port prom mgmt
  local b=$1 port=$2 prom=$3 mgmt=$4 pids
  curl -sf -o /dev/null -u guest:guest "http://127.0.0.1:$mgmt/api/queues?page=1&page_size=1" || mgmt=
  for r in $(seq "$runs"); do
    for mode in quiet paged full; do
      [ $mode = full ] && [ -z "$mgmt" ] && continue
      pids=
      if [ $mode != quiet ]; then
        scraper "http://127.0.0.1:$prom/metrics/per-object" "$work/lat_${b}_${mode}_prom" & pids="$pids $!"
        if [ -n "$mgmt" ]; then
          q=""; [ $mode = paged ] && q="?page=1&page_size=100"
          scraper "http://127.0.0.1:$mgmt/api/queues$q" "$work/lat_${b}_${mode}_api" -u guest:guest & pids="$pids $!"
        fi
        spid=$pids
        sleep 1
      fi
      log "$b $mode run $r"
      run_a "$b" "$port" "$mode" "$r"
      # shellcheck disable=SC2086
      [ -n "$pids" ] && { kill $pids; wait $pids 2>/dev/null; spid=; }
    done
  done
}

log "work dir $work; $nq queues, T=$T s, $runs runs"
start_warren
log "warren: declaring $nq queues"; declare_queues "$wport" "$nq"
measure warren "$wport" "$wprom" "$wmgmt"
kill "$wpid"; wait "$wpid" 2>/dev/null; wpid=
if [ "$rabbit" = 1 ]; then
  start_rabbit
  log "RabbitMQ: declaring $nq queues"; declare_queues "$rport" "$nq"
  sleep 10 # its stats emission and the management DB catch up with the queues
  measure rabbitmq "$rport" "$rprom" "$rmgmt"
fi

# ---- report ----
$py - "$work" "$out" "$nq" "$T" "$runs" "$(git -C "$root" rev-parse --short HEAD 2>/dev/null)" \
  "$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import glob, json, os, statistics, sys, time
work, out, nq, T, runs, rev, rver, load = sys.argv[1:]
BEGIN, END = "<!-- scrape_cost.sh begin -->", "<!-- scrape_cost.sh end -->"
KEEP = "<!-- kept by compare.sh: sections below are written by other tools -->"
def med(b, mode, key):
    v = []
    for f in glob.glob(os.path.join(work, "res_%s_%s_*.json" % (b, mode))):
        try: v.append(json.load(open(f))[key])
        except Exception: pass
    return statistics.median(v) if v else None
def lat(b, mode, ep):
    v = []
    try:
        for line in open(os.path.join(work, "lat_%s_%s_%s" % (b, mode, ep))):
            t, n = line.split()
            v.append((float(t), int(float(n))))
    except OSError:
        return None
    if not v: return None
    return len(v), statistics.median(t for t, _ in v), max(t for t, _ in v), max(n for _, n in v)  # the last may be cut short
L = [BEGIN, "## Scraping cost (issue 11, must-show 5)", "",
     "Generated by `tests/perf/scrape_cost.sh`; do not edit by hand. %s UTC, git %s, load average at the end %s "
     "(the machine is shared: figures are noisy). %s idle queues declared, then scenario a of compare.sh (16 B "
     "transient, 1 producer 1 consumer, auto-ack, %s s per run, median of %s runs, modes alternating) with no "
     "scraper (quiet), and with two scrapers each starting a request once a second (unless its last one is still "
     "running): `/metrics/per-object` (Prometheus) and `/api/queues?page=1&page_size=100` (paged, what the UI "
     "asks for) or the whole `/api/queues` (full, all %s queues in one reply). Brokers, load tool and scrapers "
     "share the machine's CPUs; RabbitMQ is %s with its management and Prometheus plugins."
     % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), rev, load, nq, T, runs, nq, rver), "",
     "| broker | scrapers | publish msg/s | consume msg/s | consume vs quiet | /metrics/per-object: fetches, median s, max s, bytes | /api/queues: fetches, median s, max s, bytes |",
     "|---|---|---:|---:|---:|---|---|"]
fmt = lambda x: "{:,.0f}".format(x) if x is not None else "n/a"
def latcell(b, mode, ep):
    l = lat(b, mode, ep)
    return "%d, %.3f, %.3f, %s" % (l[0], l[1], l[2], "{:,}".format(l[3])) if l else "-"
for b in ("warren", "rabbitmq"):
    if not glob.glob(os.path.join(work, "res_%s_*" % b)): continue
    cq = med(b, "quiet", "consume_rate")
    for mode in ("quiet", "paged", "full"):
        if not glob.glob(os.path.join(work, "res_%s_%s_*" % (b, mode))): continue
        p, c = med(b, mode, "publish_rate"), med(b, mode, "consume_rate")
        ratio = "%+.1f %%" % (100.0 * (c / cq - 1)) if (mode != "quiet" and c and cq) else ""
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % ("Warren" if b == "warren" else "RabbitMQ", mode, fmt(p),
                 fmt(c), ratio, latcell(b, mode, "prom") if mode != "quiet" else "",
                 latcell(b, mode, "api") if mode != "quiet" else ""))
L += ["", END]
section = "\n".join(L)
text = open(out).read() if os.path.exists(out) else ""
if BEGIN in text and END in text:
    a, rest = text.split(BEGIN, 1)
    text = a + section + rest.split(END, 1)[1]
else:
    if KEEP not in text: text = text.rstrip("\n") + "\n\n" + KEEP + "\n"
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(out, "w").write(text)
print(section)
EOF
log "wrote $out"
