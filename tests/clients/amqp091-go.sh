#!/bin/bash
# Run the integration tests of Debian's golang-github-rabbitmq-amqp091-go-dev
# (integration_test.go and connection_test.go, built with -tags integration, plus
# the package's unit tests) against a broker, in GOPATH mode, and print a summary.
#
#   tests/clients/amqp091-go.sh [--skip-file FILE]
#
# Environment:
#   AMQP_PORT             broker port on 127.0.0.1 (default 5672); the suite gets
#                         AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/
#   WARREN_CLIENT_CACHE   where the private GOPATH copy goes (default /tmp/warren-client-cache)
#   GO_TEST_TIMEOUT       go test -timeout (default 10m)
#   AMQP091_UNPATCHED=1   run upstream's tests exactly as shipped (see "Patches")
#
# Broker requirements: guest/guest on vhost "/", channel_max 0 or 65535 (the client
# asks for 65535 and TestIntegrationConnectionNegotiatesMaxChannels expects that),
# locale en_US, a "product" server property. IPv4 only.
#
# Patches: the sources are copied to a private GOPATH and patched (amqp091-go/patch.py,
# amqp091-go/warren_compat_test.go) so that no test passes without running: upstream
# only runs TestRabbitMQQueueTTLGet, TestRabbitMQQueueNackMultipleRequeue and
# TestIntegrationRecoverNotImplemented when the server's product is "RabbitMQ"
# (otherwise they pass vacuously), and four tests passed silently if their
# queue.declare failed. TestIntegrationPublishFlow is empty upstream: it is not run
# and is reported as skipped.
#
# --skip-file FILE: one top-level Go test name per line ('#' comments). Listed tests
# are not run (go test -run selects the others) and are reported as skipped.
#
# Exit status: 0 only if every test that ran passed, the package passed (goleak
# checks for leaked goroutines after all tests) and at least one test passed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3
port=${AMQP_PORT:-5672}
src=/usr/share/gocode/src/github.com/rabbitmq/amqp091-go
pkg=github.com/rabbitmq/amqp091-go
cache_root=${WARREN_CLIENT_CACHE:-/tmp/warren-client-cache}
skip_file=

usage() { sed -n '2,/^set -uo/p' "$0" | sed 's/^# \{0,1\}//; /^set -uo/d'; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
  case $1 in
    --skip-file) [ $# -ge 2 ] || usage; skip_file=$(realpath "$2") || exit 2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "amqp091-go.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -z "$skip_file" ] || [ -r "$skip_file" ] || { echo "amqp091-go.sh: cannot read $skip_file" >&2; exit 2; }
[ -f "$src/integration_test.go" ] || { echo "amqp091-go.sh: $src missing; apt-get install golang-github-rabbitmq-amqp091-go-dev" >&2; exit 2; }
version=$(dpkg-query -W -f '${Version}' golang-github-rabbitmq-amqp091-go-dev 2>/dev/null || echo unknown)

if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "amqp091-go.sh: nothing listening on 127.0.0.1:$port" >&2
  exit 2
fi

# Fresh private copy each run, so the patches always apply to pristine sources.
# goleak comes from /usr/share/gocode (second GOPATH entry).
gopath=$cache_root/amqp091-go-$version/gopath
dir=$gopath/src/$pkg
mkdir -p "$(dirname "$dir")" || exit 2
rm -rf "$dir" && cp -r "$src" "$dir" || exit 2
chmod -R u+w "$dir"
if [ -z "${AMQP091_UNPATCHED:-}" ]; then
  "$py" "$here/amqp091-go/patch.py" "$dir/integration_test.go" || exit 2
  cp "$here/amqp091-go/warren_compat_test.go" "$dir/" || exit 2
fi

export GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS='' \
       AMQP_URL="amqp://guest:guest@127.0.0.1:$port/"
results=$(mktemp -d /tmp/warren-amqp091-go-results.XXXXXX)
start=$SECONDS

# Which tests exist (compiles the test binary; a build failure stops here).
if ! go test -tags integration -list '.*' "$pkg" >"$results/list.txt" 2>&1; then
  cat "$results/list.txt"; echo "amqp091-go: FAIL (build)"; exit 1
fi
declare -A skip=()
: >"$results/skipped.tsv"
[ -n "${AMQP091_UNPATCHED:-}" ] || skip[TestIntegrationPublishFlow]="empty upstream test, asserts nothing"
if [ -n "$skip_file" ]; then
  while IFS= read -r name; do
    case $name in ''|'#'*) continue ;; esac
    skip[$name]="listed in skip file"
  done < <(sed 's/[[:space:]]*#.*//; s/^[[:space:]]*//; s/[[:space:]]*$//' "$skip_file")
fi
run=()
while IFS= read -r name; do
  if [ -n "${skip[$name]:-}" ]; then
    printf '%s\t%s\n' "$name" "${skip[$name]}" >>"$results/skipped.tsv"
  else
    run+=("$name")
  fi
done < <(grep -E '^(Test|Example)[A-Za-z0-9_]*$' "$results/list.txt")
for name in "${!skip[@]}"; do
  grep -qx "$name" "$results/list.txt" || echo "amqp091-go.sh: NOTE: skip-file entry matched no test: $name"
done
[ ${#run[@]} -gt 0 ] || { echo "amqp091-go: FAIL (no tests to run)"; exit 1; }
regex="^($(IFS='|'; echo "${run[*]}"))\$"
printf '%s\n' "${run[@]}" >"$results/expected.txt"

echo "amqp091-go.sh: running ${#run[@]} tests of amqp091-go $version against $AMQP_URL"
go test -count=1 -tags integration -json -timeout "${GO_TEST_TIMEOUT:-10m}" -run "$regex" "$pkg" \
  >"$results/go.json" 2>"$results/stderr.log"
rc=$?

echo
"$py" "$here/amqp091-go/summary.py" "$results/go.json" "$results/skipped.tsv" "$results/expected.txt"
status=$?
if [ $rc -ne 0 ] && [ $status -eq 0 ]; then
  echo "  FAIL go test exited $rc:"; tail -15 "$results/stderr.log" | sed 's/^/         /'
  status=1
fi
echo "amqp091-go: $([ $status = 0 ] && echo PASS || echo FAIL) in $((SECONDS - start))s; logs in $results"
exit $status
