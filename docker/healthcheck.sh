#!/bin/bash
# warren-healthcheck — exit 0 if the broker answers the AMQP 0-9-1 protocol
# header with a Connection.Start method frame, 1 otherwise. Needs only bash
# (/dev/tcp) and coreutils. Port: $WARREN_HEALTHCHECK_PORT (default 5672).
port="${WARREN_HEALTHCHECK_PORT:-5672}"
exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || exit 1
printf 'AMQP\0\0\011\001' >&3 || exit 1
# frame type 1 (method), channel 0, 4-byte size, class 10 method 10
got=$(timeout 3 head -c 11 <&3 | od -An -tx1 | tr -d ' \n')
exec 3>&-
[[ $got == 010000????????000a000a ]] && exit 0
exit 1
