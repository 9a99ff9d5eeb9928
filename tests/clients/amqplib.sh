#!/bin/bash
# Run the npm amqplib@2.2.0 package's own test suite (its test/ folder, node:test,
# with claire@0.4.1) against a broker, and print a summary.
#
#   tests/clients/amqplib.sh [--skip-file FILE] [-v]
#
# Environment:
#   AMQP_PORT              broker port on localhost (default 5672). user guest/guest, vhost /.
#   WARREN_CLIENT_CACHE    where the pinned npm packages are unpacked
#                          (default /tmp/warren-client-cache; never inside the repo)
#   AMQPLIB_TEST_TIMEOUT   per-test and per-hook timeout in ms (default 10000)
#   AMQPLIB_FILE_TIMEOUT   per-test-file timeout in ms (default 300000); a test process
#                          that stays alive after its tests (open sockets) is ended
#                          after 3 s by amqplib/preload.js.
#   WARREN_NO_REDIRECT=1   see "Port 5672" below
#
# Broker requirements: AMQP on 127.0.0.1:$AMQP_PORT AND on [::1]:$AMQP_PORT (the test
# "Connect > Connect API > ipv6" dials amqp://[::1]), guest/guest allowed from
# loopback, vhost "/". No management API, no TLS.
#
# Port 5672: channel_api.test.js takes its broker from env URL (this script sets
# URL=amqp://localhost:$AMQP_PORT), but callback_api.test.js and connect.test.js
# hard-code amqp://localhost / amqp://[::1] (port 5672). With AMQP_PORT=5672 (the
# default, and what run-against-warren.sh uses) they run unmodified. With another
# port, amqplib/preload.js redirects loopback connections to 5672 onto AMQP_PORT so
# the whole suite hits the broker under test; WARREN_NO_REDIRECT=1 turns that off
# (then those tests need a broker on 5672 on both 127.0.0.1 and ::1).
#
# --skip-file FILE: one full test name per line ("Suite > sub-suite > title", as
# printed in the summary; a suite name skips every test in it; '#' comments). Listed
# tests are not run and are counted as skipped, never as passed. Entries that match
# no test are reported (NOTE) so typos show.
#
# Exit status: 0 only if every test that ran passed and at least one test passed.
set -uo pipefail

AMQPLIB_VERSION=2.2.0
CLAIRE_VERSION=0.4.1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=${AMQP_PORT:-5672}
timeout_ms=${AMQPLIB_TEST_TIMEOUT:-10000}
file_timeout_ms=${AMQPLIB_FILE_TIMEOUT:-300000}
cache_root=${WARREN_CLIENT_CACHE:-/tmp/warren-client-cache}
cache=$cache_root/amqplib-$AMQPLIB_VERSION
skip_file=
verbose=0

usage() { sed -n '2,/^set -uo/p' "$0" | sed 's/^# \{0,1\}//; /^set -uo/d'; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
  case $1 in
    --skip-file) [ $# -ge 2 ] || usage; skip_file=$(realpath "$2") || exit 2; shift 2 ;;
    -v) verbose=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "amqplib.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -z "$skip_file" ] || [ -r "$skip_file" ] || { echo "amqplib.sh: cannot read $skip_file" >&2; exit 2; }

# Unpack amqplib (npm pack: the published tarball, which includes test/) and install
# claire next to it; node finds $cache/node_modules from $cache/amqplib/test.
install_suite() {
  [ -f "$cache/.complete" ] && return 0
  local tmp
  tmp=$(mktemp -d "$cache_root/.amqplib.XXXXXX") || return 1
  echo "amqplib.sh: installing amqplib@$AMQPLIB_VERSION and claire@$CLAIRE_VERSION into $cache"
  (
    set -e
    cd "$tmp"
    npm pack --silent "amqplib@$AMQPLIB_VERSION" >/dev/null
    mkdir amqplib
    tar xzf "amqplib-$AMQPLIB_VERSION.tgz" -C amqplib --strip-components=1
    echo '{"name":"warren-amqplib-suite","private":true}' >package.json
    npm install --silent --no-audit --no-fund --no-package-lock --save-exact \
      --ignore-scripts "claire@$CLAIRE_VERSION"
    test -f amqplib/test/channel_api.test.js && test -d node_modules/claire
  ) || { rm -rf "$tmp"; echo "amqplib.sh: install failed" >&2; return 1; }
  touch "$tmp/.complete"
  rm -rf "$cache" && mv "$tmp" "$cache"
}

mkdir -p "$cache_root" || exit 2
install_suite || exit 2

probe() { (exec 3<>"/dev/tcp/$1/$port") 2>/dev/null; }
if ! probe 127.0.0.1; then
  echo "amqplib.sh: nothing listening on 127.0.0.1:$port" >&2
  exit 2
fi
probe ::1 || echo "amqplib.sh: WARNING: nothing listening on [::1]:$port; the IPv6 connect test will fail"
if [ "$port" != 5672 ]; then
  if [ -n "${WARREN_NO_REDIRECT:-}" ]; then
    echo "amqplib.sh: NOTE: AMQP_PORT=$port, redirect off: callback_api/connect tests use port 5672"
  else
    echo "amqplib.sh: NOTE: AMQP_PORT=$port: hard-coded localhost:5672 / [::1]:5672 redirected to $port"
  fi
fi

results=$(mktemp -d /tmp/warren-amqplib-results.XXXXXX)
all=$results/all.tsv
: >"$all"
declare -a crashed=()
start=$SECONDS
cd "$cache/amqplib" || exit 2
for path in test/*.test.js; do
  f=$(basename "$path")
  t0=$SECONDS
  WARREN_TEST_FILE=$f WARREN_SKIP_FILE=$skip_file WARREN_TEST_TIMEOUT_MS=$timeout_ms \
  AMQP_PORT=$port URL="amqp://localhost:$port" \
    node --require "$here/amqplib/preload.js" --test --test-timeout="$file_timeout_ms" \
      --test-reporter=spec --test-reporter-destination="$results/$f.log" \
      --test-reporter="$here/amqplib/summary-reporter.mjs" --test-reporter-destination="$results/$f.tsv" \
      "$path" >"$results/$f.out" 2>&1
  rc=$?
  cat "$results/$f.tsv" >>"$all"
  [ "$verbose" = 1 ] && cat "$results/$f.log" "$results/$f.out"
  counts=$(awk -F'\t' '$2=="test"{n[$1]++} END{printf "%d pass, %d fail, %d skip", n["pass"], n["fail"], n["skip"]}' "$results/$f.tsv")
  printf '  %-24s %s (%ds)\n' "$f" "$counts" $((SECONDS - t0))
  if [ $rc -ne 0 ] && ! grep -q '^fail' "$results/$f.tsv"; then crashed+=("$f (node exit $rc without a failing test)"); fi
  # Cross-check with node's own count, so a cut-short report cannot hide tests.
  node_pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$results/$f.log")
  our_pass=$(awk -F'\t' '$1=="pass" && $2=="test"' "$results/$f.tsv" | grep -c .)
  [ "$node_pass" = "$our_pass" ] || crashed+=("$f (report incomplete: node says pass=${node_pass:-?}, summary has $our_pass)")
done

summary() {
  awk -F'\t' '
    $2=="test" { n[$1]++ }
    $1=="fail" && $2=="suite" && $5 ~ /^[0-9]+ subtests? failed$/ { next }
    $1=="fail" { fails[++nf] = sprintf("  FAIL %s: %s%s", $3, $4, ($5 != "" ? "\n         " $5 : "")) }
    $1=="skip" { skips[++ns] = "  SKIP " $3 ": " $4 }
    END {
      printf "amqplib@%s: %d tests: %d passed, %d failed, %d skipped, %d todo\n", ver, n["pass"]+n["fail"]+n["skip"]+n["todo"], n["pass"], n["fail"], n["skip"], n["todo"]
      for (i = 1; i <= ns; i++) print skips[i]
      for (i = 1; i <= nf; i++) print fails[i]
    }' ver="$AMQPLIB_VERSION" "$all"
}

echo
summary
status=0
grep -q '^fail' "$all" && status=1
grep -q $'^pass\ttest' "$all" || { echo "  no test passed"; status=1; }
for c in "${crashed[@]}"; do echo "  FAIL $c"; status=1; done
if [ -n "$skip_file" ]; then
  while IFS= read -r name; do
    case $name in ''|'#'*) continue ;; esac
    awk -F'\t' -v n="$name" '$1=="skip" && ($4==n || index($4, n " > ")==1) {found=1} END{exit !found}' "$all" ||
      echo "  NOTE: skip-file entry matched no test: $name"
  done < <(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' "$skip_file")
fi
echo "amqplib: $([ $status = 0 ] && echo PASS || echo FAIL) in $((SECONDS - start))s; logs in $results"
exit $status
