#!/usr/bin/env bash
# guest (a loopback_users user) from a non-loopback address is refused, as in
# RabbitMQ; from loopback it is let in; a non-loopback user is let in from both.
# Runs Warren and the clients inside a network namespace of its own, where lo
# also carries 192.0.2.10 (TEST-NET-1): traffic never leaves the namespace.
#   test_guest_remote.sh WARREN_BINARY      (needs root for `ip netns`)
set -euo pipefail
bin=$(realpath "$1")
ns=warren-guest-$$
data=$(mktemp -d /tmp/warren-netns-XXXXXX)
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add 192.0.2.10/32 dev lo
printf 'default_user = guest\ndefault_pass = guest\n' > "$data/warren.conf"
RABBITMQ_DEFAULT_USER= ip netns exec "$ns" "$bin" --port 5672 --data-dir "$data/d" --config "$data/warren.conf" \
  > "$data/warren.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  [ -S "$data/d/warren.sock" ] && ip netns exec "$ns" bash -c '(exec 3<>/dev/tcp/127.0.0.1/5672)' 2>/dev/null && break
  sleep 0.05
done
cat > "$data/client.py" <<'PY'
import sys, pika
host, user, pw, want = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
try:
    c = pika.BlockingConnection(pika.ConnectionParameters(host, 5672, credentials=pika.PlainCredentials(user, pw),
                                                          connection_attempts=1, socket_timeout=5))
    c.close()
    got = "ok"
except pika.exceptions.ProbableAccessDeniedError as e:
    got = "refused"
except pika.exceptions.AMQPConnectionError as e:
    got = "refused" if "ACCESS_REFUSED" in repr(e) or "403" in repr(e) else "error: %r" % e
print("%s from %s: %s (expected %s)" % (user, host, got, want))
sys.exit(0 if got == want else 1)
PY
fail=0
run() { ip netns exec "$ns" /usr/bin/python3 "$data/client.py" "$@" || fail=1; }
ctl="$(dirname "$bin")/warrenctl"
"$ctl" -q --data-dir "$data/d" add_user app apppw >/dev/null
"$ctl" -q --data-dir "$data/d" set_permissions app '.*' '.*' '.*' >/dev/null
run 127.0.0.1 guest guest ok
run 192.0.2.10 guest guest refused
run 192.0.2.10 app apppw ok   # the refusal is about guest and loopback, not the address
grep -q "192.0.2.10" "$data/warren.log" || { echo "the refusal was not logged with the peer address"; fail=1; }
kill "$pid"; wait "$pid" || { echo "warren exited non-zero"; fail=1; }
pid=
if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else tail -20 "$data/warren.log"; echo "0 passed, 1 failed"; fi
exit $fail
