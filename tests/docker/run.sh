#!/bin/bash
# tests/docker/run.sh — build docker/Dockerfile and run it with podman and
# podman-compose, then talk AMQP to it from the host with pika.
#
# Needs root (rootful podman, apt-get, debootstrap). Not part of ctest: slow.
#   sudo tests/docker/run.sh
# Environment (all optional):
#   WARREN_DOCKER_PORT     first of seven free host ports (default 25672; uses +0 ... +6)
#   WARREN_DOCKER_NOCACHE  1: build with --no-cache (for a cold build time)
#   WARREN_DOCKER_CMAKE_ARGS  extra CMake arguments for the image build (the
#                          Dockerfile's WARREN_CMAKE_ARGS build argument)
# Prints PASS or FAIL as the last line; exits 0 only on PASS.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tests/docker"
PY=/usr/bin/python3
IMAGE=warren:latest            # also the compose file's image name
P1=${WARREN_DOCKER_PORT:-25672} # podman run, app/secret (not 15672: the compose file's management port)
P2=$((P1 + 1))                  # podman run, guest via the image's config (+ control)
P3=$((P1 + 2))                  # podman-compose, app/secret
P4=$((P1 + 3))                  # podman run, mounted config: amqps (5671)
P5=$((P1 + 4))                  # podman-compose's amqps port (published, not enabled)
P6=$((P1 + 5))                  # podman-compose's management port (15672 in the container)
P7=$((P1 + 6))                  # podman-compose's Prometheus port (15692 in the container)
PROJECT=warren-dockertest
RUN=warren-dockertest-run
VOL=warren-dockertest-data
FAILS=0
declare -a TIMINGS=()

say() { printf '==> %s\n' "$*"; }
ok() { printf '  ok   %s\n' "$*"; }
bad() { printf '  FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
die() { bad "$*"; finish; }

# ---- podman set-up (see ../shared/tools/podman-notes.md) ------------------
setup_podman() {
    [ "$(id -u)" = 0 ] || die "needs root (rootful podman, apt-get, debootstrap)"
    local missing=()
    for c in podman podman-compose runc debootstrap; do command -v "$c" >/dev/null || missing+=("$c"); done
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt-get install podman podman-compose runc debootstrap (missing: ${missing[*]})"
        apt-get install -y podman podman-compose runc debootstrap >/tmp/warren-dockertest-apt.log 2>&1 ||
            die "apt-get install failed (see /tmp/warren-dockertest-apt.log)"
    fi
    CONF=/tmp/warren-dockertest-podman
    mkdir -p "$CONF"
    printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' \
        >"$CONF/containers.conf"
    printf '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' \
        >"$CONF/storage.conf"
    export CONTAINERS_CONF="$CONF/containers.conf" CONTAINERS_STORAGE_CONF="$CONF/storage.conf"
    # podman's default OCI image format drops HEALTHCHECK; Docker always keeps it.
    # This also reaches the podman build that podman-compose runs.
    export BUILDAH_FORMAT=docker
    if ! podman image exists debian:bookworm-slim; then
        # No registry is reachable here: make the base image from Debian's packages.
        say "creating debian:bookworm-slim with debootstrap (no registry here)"
        local t0 rootfs mirror
        t0=$(now)
        rootfs=$(mktemp -d /tmp/warren-dockertest-rootfs.XXXXXX)
        mirror=$(apt-get indextargets --format '$(REPO_URI)' | head -1)
        debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/warren-dockertest-debootstrap.log 2>&1 ||
            die "debootstrap failed (see /tmp/warren-dockertest-debootstrap.log)"
        chmod 0755 "$rootfs" # mktemp made it 0700: it becomes the image's /
        # Trim it towards the official -slim variant (which excludes docs and keeps no
        # apt cache or lists), so the image size reported below is meaningful.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
            "$rootfs"/usr/share/locale/*
        printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
            'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
            >"$rootfs/etc/dpkg/dpkg.cfg.d/docker"
        printf '%s\n' 'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' \
            >"$rootfs/etc/apt/apt.conf.d/docker-clean"
        tar -C "$rootfs" -c . | podman import - debian:bookworm-slim >/dev/null || die "podman import failed"
        rm -rf "$rootfs"
        TIMINGS+=("base image via debootstrap: $(since "$t0") s")
    fi
}

cleanup() {
    podman rm -f -v -t 0 "$RUN" "$RUN-guest" "$RUN-noconf" "$RUN-tls" >/dev/null 2>&1
    podman volume rm -f "$VOL" "$VOL-tls" >/dev/null 2>&1
    [ -n "${TLSDIR:-}" ] && rm -rf "$TLSDIR"
    if [ -n "${COMPOSE_UP:-}" ]; then
        (cd "$ROOT" && compose down -v -t 0 >/dev/null 2>&1)
    fi
}

finish() {
    cleanup
    echo
    say "figures"
    for t in "${TIMINGS[@]}"; do printf '  %s\n' "$t"; done
    echo
    if [ "$FAILS" -eq 0 ]; then echo "PASS: tests/docker/run.sh"; exit 0; fi
    echo "FAIL: tests/docker/run.sh ($FAILS failed check(s))"
    exit 1
}

# Wait until `podman healthcheck run` (the image's HEALTHCHECK) succeeds.
# $1 container, $2 time before `podman run`/`up`, $3 label for the figures,
# $4 time that command returned (the container was started by then).
wait_healthy() {
    local c=$1 t0=$2 label=$3 t1=$4 i out split
    for i in $(seq 1 300); do
        if out=$(podman healthcheck run "$c" 2>&1); then
            split=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
            TIMINGS+=("start-up to healthy ($label): $(since "$t0") s (the podman command: $split s; then healthy after $(since "$t1") s)")
            ok "$c healthy after $(since "$t0") s"
            return 0
        fi
        if grep -q 'no defined healthcheck' <<<"$out"; then
            bad "$c: the image has no HEALTHCHECK ($out)"
            return 1
        fi
        [ "$(podman inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || break
        sleep 0.1
    done
    bad "$c did not become healthy; its log:"
    podman logs "$c" 2>&1 | tail -20 | sed 's/^/       /'
    return 1
}

client() { # port user pass ok|refused
    local out
    if out=$("$PY" "$HERE/client.py" "$@" 2>&1); then ok "$out"; else bad "client $*: $out"; fi
}

# Stop with podman stop (SIGTERM) and require exit code 0 and Warren's own
# "received SIGTERM" line (a SIGKILL after the timeout would show neither).
stop_clean() { # container
    local c=$1 t0 code
    t0=$(now)
    podman stop -t 20 "$c" >/dev/null || bad "podman stop $c failed"
    code=$(podman inspect -f '{{.State.ExitCode}}' "$c")
    TIMINGS+=("stop via SIGTERM ($c): $(since "$t0") s")
    if [ "$code" = 0 ]; then ok "$c exited 0 after podman stop ($(since "$t0") s)"; else bad "$c exit code $code after podman stop"; fi
    if podman logs "$c" 2>&1 | grep -q 'received SIGTERM'; then ok "$c logged 'received SIGTERM'"; else bad "$c: no 'received SIGTERM' in its log"; fi
}

# podman-compose 1.0.3 runs `podman build -f ../docker/Dockerfile ..` from docker/, and
# buildah then misses docker/Dockerfile.dockerignore (it only finds it when the -f path
# is relative to the context: containers/buildah#6391), so name it explicitly here.
# Docker Compose / BuildKit find it on their own.
compose() {
    local extra=""
    [ -n "${WARREN_DOCKER_CMAKE_ARGS:-}" ] && extra=" --build-arg $(printf '%q' "WARREN_CMAKE_ARGS=$WARREN_DOCKER_CMAKE_ARGS")"
    podman-compose -p "$PROJECT" -f docker/docker-compose.yml \
        --podman-build-args="--network host --ignorefile $ROOT/docker/Dockerfile.dockerignore$extra" "$@"
}

# Without systemd, podman cannot arm its health-check timers and says so on every
# run/stop; the checks still run on demand (podman healthcheck run), so hide that noise.
podman() {
    command podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2)
}

# ---- the test ----------------------------------------------------------------
cd "$ROOT" || exit 1
trap 'echo; bad "interrupted"; finish' INT TERM
setup_podman
cleanup

say "podman build -t $IMAGE -f docker/Dockerfile ."
nocache=()
[ "${WARREN_DOCKER_NOCACHE:-0}" = 1 ] && nocache=(--no-cache)
bargs=()
if [ -n "${WARREN_DOCKER_CMAKE_ARGS:-}" ]; then
    bargs=(--build-arg "WARREN_CMAKE_ARGS=$WARREN_DOCKER_CMAKE_ARGS")
    say "with --build-arg WARREN_CMAKE_ARGS=$WARREN_DOCKER_CMAKE_ARGS"
    TIMINGS+=("built with WARREN_CMAKE_ARGS=$WARREN_DOCKER_CMAKE_ARGS")
fi
t0=$(now)
if podman build --network host "${nocache[@]}" "${bargs[@]}" -t "$IMAGE" -f docker/Dockerfile . >/tmp/warren-dockertest-build.log 2>&1; then
    TIMINGS+=("image build${nocache:+ (--no-cache)}: $(since "$t0") s")
    ok "built in $(since "$t0") s"
else
    tail -30 /tmp/warren-dockertest-build.log | sed 's/^/       /'
    die "podman build failed (see /tmp/warren-dockertest-build.log)"
fi
size=$(podman image inspect -f '{{.Size}}' "$IMAGE")
base=$(podman image inspect -f '{{.Size}}' debian:bookworm-slim)
TIMINGS+=("image size: $((size / 1000000)) MB (base debian:bookworm-slim here: $((base / 1000000)) MB; Warren layers: $(((size - base) / 1000000)) MB)")
ok "image size $((size / 1000000)) MB"

say "image contents and metadata"
# The .dockerignore worked if no build tree and no .git reached the build stage:
# look in the build stage's cache by building just that stage (cached, instant).
if podman build --network host "${bargs[@]}" --target build -t warren-dockertest-buildstage -f docker/Dockerfile . >/dev/null 2>&1 &&
    podman run --rm --entrypoint /bin/sh warren-dockertest-buildstage -c \
        'test -f /src/CMakeLists.txt && test ! -e /src/.git && ! ls -d /src/build* 2>/dev/null'; then
    ok "build context has the sources but no .git and no build*/ (Dockerfile.dockerignore honoured)"
else
    bad "build context check: .git or build*/ reached /src, or sources missing"
fi
podman untag warren-dockertest-buildstage >/dev/null 2>&1 # keep its layers: the compose build reuses them
meta=$(podman image inspect -f '{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}' "$IMAGE")
want='999:999|["warren"]|["--data-dir","/var/lib/warren","--config","/etc/warren/warren.conf"]|{"15672/tcp":{},"15692/tcp":{},"5671/tcp":{},"5672/tcp":{}}|{"/var/lib/warren":{}}'
if [ "$meta" = "$want" ]; then ok "user, entrypoint, cmd, port, volume: $meta"; else bad "image metadata: got $meta, want $want"; fi
if podman run --rm "$IMAGE" --help | grep -q '^usage: warren'; then ok "'podman run $IMAGE --help' prints usage"; else bad "--help via the entrypoint"; fi
if libs=$(podman run --rm --entrypoint /usr/bin/ldd "$IMAGE" /usr/local/bin/warren 2>&1) && ! grep -q 'not found' <<<"$libs"; then
    ok "all shared libraries resolve in the runtime image"
else
    bad "ldd warren in the runtime image: $libs"
fi
links=$(podman run --rm --entrypoint /bin/sh "$IMAGE" -c \
    'cd /usr/local/bin && for t in rabbitmqctl rabbitmq-diagnostics rabbitmq-queues; do readlink $t; done | tr "\n" " "')
if [ "$links" = "warrenctl warrenctl warrenctl " ]; then
    ok "rabbitmqctl, rabbitmq-diagnostics, rabbitmq-queues are links to warrenctl"
else
    bad "drop-in tool links: got '$links'"
fi
if podman run --rm --entrypoint /usr/bin/dpkg "$IMAGE" -s libmicrohttpd12 2>/dev/null | grep -q '^Status: install ok installed'; then
    ok "libmicrohttpd12 installed (the management plane's HTTP library)"
else
    bad "libmicrohttpd12 missing from the runtime image"
fi
# rabbitmq-diagnostics -q ping (the compose file's health check) must fail with no broker: 69.
podman run --rm --entrypoint rabbitmq-diagnostics "$IMAGE" -q ping >/dev/null 2>&1
code=$?
if [ "$code" = 69 ]; then ok "rabbitmq-diagnostics -q ping with no broker: exit 69"; else bad "rabbitmq-diagnostics -q ping with no broker: exit $code, want 69"; fi
# The health check must fail when nothing listens (so a pass below means something).
if podman run --rm --entrypoint /usr/local/bin/warren-healthcheck "$IMAGE" >/dev/null 2>&1; then
    bad "warren-healthcheck succeeded with no broker running"
else
    ok "warren-healthcheck fails when no broker listens"
fi

say "podman run -p $P1:5672 with RABBITMQ_DEFAULT_USER=app RABBITMQ_DEFAULT_PASS=secret"
t0=$(now)
podman run -d --name "$RUN" -p "$P1:5672" -v "$VOL:/var/lib/warren" \
    -e RABBITMQ_DEFAULT_USER=app -e RABBITMQ_DEFAULT_PASS=secret "$IMAGE" >/dev/null || die "podman run failed"
t1=$(now)
if wait_healthy "$RUN" "$t0" "podman run" "$t1"; then
    uid=$(podman exec "$RUN" id -u)
    if [ "$uid" = 999 ]; then ok "broker runs as uid 999 (warren), not root"; else bad "broker runs as uid $uid"; fi
    client "$P1" app secret ok
    client "$P1" app wrong refused
    client "$P1" guest guest refused
    # The drop-in tools inside the container, as a compose health check or an operator runs them.
    for cmd in "rabbitmq-diagnostics -q ping|Ping succeeded" \
        "rabbitmq-diagnostics -q check_running|is fully booted and running" \
        "rabbitmq-diagnostics -q check_local_alarms|reported no local alarms" \
        "rabbitmq-diagnostics -q check_port_connectivity|Successfully connected to ports 5672 on node" \
        "rabbitmq-diagnostics -q listeners|Interface: \[::\], port: 5672, protocol: amqp" \
        "rabbitmqctl list_users|^app" "rabbitmqctl trace_on|Trace enabled for vhost /"; do
        # shellcheck disable=SC2086
        if out=$(podman exec "$RUN" ${cmd%%|*} 2>&1) && grep -q "${cmd#*|}" <<<"$out"; then
            ok "podman exec ${cmd%%|*}: exit 0, '${cmd#*|}'"
        else
            bad "podman exec ${cmd%%|*}: $out"
        fi
    done
    podman exec "$RUN" rabbitmqctl no_such_command >/dev/null 2>&1
    code=$?
    if [ "$code" = 64 ]; then ok "rabbitmqctl no_such_command: exit 64"; else bad "rabbitmqctl no_such_command: exit $code, want 64"; fi
    if podman exec "$RUN" /bin/sh -c 'touch /var/lib/warren/.w && rm /var/lib/warren/.w'; then
        ok "named volume at /var/lib/warren is writable by warren"
    else
        bad "named volume at /var/lib/warren is not writable by warren"
    fi
fi
stop_clean "$RUN"
podman rm -f -v "$RUN" >/dev/null

say "podman run -p $P2:5672 with no credentials: guest/guest through the published port"
t0=$(now)
podman run -d --name "$RUN-guest" -p "$P2:5672" "$IMAGE" >/dev/null || die "podman run failed"
t1=$(now)
if wait_healthy "$RUN-guest" "$t0" "podman run, second start" "$t1"; then
    client "$P2" guest guest ok
fi
podman rm -f -v -t 0 "$RUN-guest" >/dev/null
# Control: without the image's config (loopback_users.guest = false) guest must be
# refused, proving that the published port is not loopback for the broker and
# that the config file is what lets guest in.
t0=$(now)
podman run -d --name "$RUN-noconf" -p "$P2:5672" "$IMAGE" --data-dir /var/lib/warren >/dev/null || die "podman run failed"
t1=$(now)
if wait_healthy "$RUN-noconf" "$t0" "podman run, no config" "$t1"; then
    client "$P2" guest guest refused
fi
podman rm -f -v -t 0 "$RUN-noconf" >/dev/null

say "podman run -p $P4:5671 with a mounted config (TLS, load_definitions), certificates and definitions"
TLSDIR=$(mktemp -d /tmp/warren-dockertest-tls.XXXXXX)
if ! bash "$ROOT/tests/tls/gen-certs.sh" "$TLSDIR/certs" >/dev/null; then die "tests/tls/gen-certs.sh failed"; fi
chmod 0755 "$TLSDIR" "$TLSDIR/certs" && chmod 0644 "$TLSDIR"/certs/* # the broker runs as uid 999
cat >"$TLSDIR/warren.conf" <<'CONF'
# a user's own rabbitmq.conf, mounted over the image's
listeners.ssl.default = 5671
ssl_options.cacertfile = /etc/warren/certs/ca.pem
ssl_options.certfile = /etc/warren/certs/server.pem
ssl_options.keyfile = /etc/warren/certs/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
load_definitions = /etc/warren/definitions.json
CONF
"$PY" "$HERE/tls_client.py" defs defuser defpass >"$TLSDIR/definitions.json" || die "definitions file"
tls_run() {
    podman run -d --name "$RUN-tls" -p "$P4:5671" -v "$VOL-tls:/var/lib/warren" \
        -v "$TLSDIR/warren.conf:/etc/warren/warren.conf:ro" -v "$TLSDIR/certs:/etc/warren/certs:ro" \
        -v "$TLSDIR/definitions.json:/etc/warren/definitions.json:ro" "$IMAGE" >/dev/null
}
tls_client() { # action body
    local out
    if out=$("$PY" "$HERE/tls_client.py" "$P4" "$TLSDIR/certs/ca.pem" defuser defpass defvh "$1" durable-q "$2" 2>&1); then
        ok "$out"
    else
        bad "amqps $1: $out"
    fi
}
t0=$(now)
tls_run || die "podman run (TLS) failed"
t1=$(now)
if wait_healthy "$RUN-tls" "$t0" "podman run, TLS config" "$t1"; then
    if podman logs "$RUN-tls" 2>&1 | grep -q 'imported definitions from /etc/warren/definitions.json'; then
        ok "load_definitions imported the mounted definitions at boot"
    else
        bad "no 'imported definitions' line in the log"
    fi
    tls_client publish "kept across a restart"
    tls_client expect "kept across a restart"
    if out=$(podman exec "$RUN-tls" warrenctl -q list_queues -p defvh 2>&1) && grep -qx $'durable-q\t1\t0' <<<"$out"; then
        ok "warrenctl inside the container: list_queues -p defvh shows durable-q with 1 message"
    else
        bad "podman exec warrenctl list_queues: $out"
    fi
    if out=$(podman exec "$RUN-tls" warrenctl --json list_users 2>&1) && grep -q '"defuser"' <<<"$out" && ! grep -q '"guest"' <<<"$out"; then
        ok "users come from the definitions (defuser, no guest)"
    else
        bad "warrenctl list_users: $out"
    fi
fi
stop_clean "$RUN-tls"
t0=$(now)
podman start "$RUN-tls" >/dev/null || bad "podman start (restart on the same volume) failed"
t1=$(now)
if wait_healthy "$RUN-tls" "$t0" "podman start, TLS config, same volume" "$t1"; then
    tls_client expect "kept across a restart"
fi
podman rm -f -v -t 0 "$RUN-tls" >/dev/null

say "podman-compose -f docker/docker-compose.yml (WARREN_PORT=$P3, app/secret)"
export WARREN_PORT=$P3 WARREN_TLS_PORT=$P5 WARREN_MGMT_PORT=$P6 WARREN_PROM_PORT=$P7 \
    RABBITMQ_DEFAULT_USER=app RABBITMQ_DEFAULT_PASS=secret
t0=$(now)
if compose build >/tmp/warren-dockertest-compose-build.log 2>&1; then
    TIMINGS+=("podman-compose build (layers cached from the build above): $(since "$t0") s")
    ok "podman-compose build ($(since "$t0") s)"
else
    bad "podman-compose build failed (see /tmp/warren-dockertest-compose-build.log)"
fi
COMPOSE_UP=1
t0=$(now)
compose up -d >/tmp/warren-dockertest-compose-up.log 2>&1 || bad "podman-compose up failed (see /tmp/warren-dockertest-compose-up.log)"
t1=$(now)
CC=$(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | head -1)
if [ -z "$CC" ]; then
    bad "podman-compose made no container"
    tail -20 /tmp/warren-dockertest-compose-up.log | sed 's/^/       /'
else
    if wait_healthy "$CC" "$t0" "podman-compose up" "$t1"; then
        client "$P3" app secret ok
        client "$P3" guest guest refused
        hc=$(podman inspect -f '{{json .Config.Healthcheck.Test}}' "$CC")
        # Docker Compose keeps ["CMD","rabbitmq-diagnostics","-q","ping"]; podman-compose 1.0.3
        # turns it into a CMD-SHELL line with the words quoted. Either way it ran above.
        if grep -q "rabbitmq-diagnostics.*-q.*ping" <<<"$hc"; then
            ok "compose health check is rabbitmq-diagnostics -q ping (and it passed above)"
        else
            bad "compose health check: $hc"
        fi
        ports=$(podman port "$CC" | sort | tr '\n' ' ')
        for want in "15672/tcp -> 0.0.0.0:$P6" "15692/tcp -> 0.0.0.0:$P7" "5672/tcp -> 0.0.0.0:$P3"; do
            if grep -qF "$want" <<<"$ports"; then ok "published: $want"; else bad "not published: $want (got: $ports)"; fi
        done
        if podman volume exists "${PROJECT}_warren-data"; then ok "named volume ${PROJECT}_warren-data in use"; else bad "named volume ${PROJECT}_warren-data missing"; fi
    fi
    # podman-compose stop = podman stop = SIGTERM
    t2=$(now)
    compose stop >/dev/null 2>&1 || bad "podman-compose stop failed"
    code=$(podman inspect -f '{{.State.ExitCode}}' "$CC")
    TIMINGS+=("podman-compose stop: $(since "$t2") s")
    if [ "$code" = 0 ]; then ok "$CC exited 0 after podman-compose stop"; else bad "$CC exit code $code after podman-compose stop"; fi
    if podman logs "$CC" 2>&1 | grep -q 'received SIGTERM'; then ok "$CC logged 'received SIGTERM'"; else bad "$CC: no 'received SIGTERM' in its log"; fi
fi
finish
