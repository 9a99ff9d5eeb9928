#!/usr/bin/env bash
# Install what building and testing Warren needs, from Debian's packages.
# Does nothing when everything is already there; needs root otherwise.
set -euo pipefail
pkgs=(cmake make gcc clang clang-format libssl-dev libjansson-dev libpcre2-dev libmicrohttpd-dev libcriterion-dev librabbitmq-dev python3-pika python3-prometheus-client amqp-specs pkg-config
      golang-go golang-github-rabbitmq-amqp091-go-dev bc openssl iproute2 util-linux procps
      chromium fonts-liberation rabbitmq-server) # chromium and a font: the web UI's browser test (tests/ui); rabbitmq-server: for /usr/bin/rabbitmqadmin (tests/mgmt), and the reference broker
# The amqplib suite needs node and npm; use the machine's if it has them.
command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tests/deps.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# rabbitmq-server must not start as a service (it would take 5672 and 15672 from the
# tests): invoke-rc.d asks policy-rc.d, and 101 means "not now".
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d
  guard=1
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ -n "$guard" ] && $SUDO rm -f /usr/sbin/policy-rc.d
# A systemd machine may have started it anyway: stop it and keep it off.
if command -v systemctl >/dev/null && systemctl is-active -q rabbitmq-server 2>/dev/null; then
  $SUDO systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
fi
