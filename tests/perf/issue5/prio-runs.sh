#!/bin/sh
# 3 interleaved runs each: plain queue vs x-max-priority=10, 1 producer 1 consumer, 16 B,
# manual ack (each message), prefetch 1000, 10 s, random priority 0-9 on every message (both queues).
P=${PORT:-5773}
for r in 1 2 3; do
  for kind in plain prio; do
    if [ $kind = prio ]; then QA="--queue-arg x-max-priority=10"; else QA=""; fi
    echo "run $r $kind load: $(cut -d' ' -f1-3 /proc/loadavg)"
    B5_PRIO_RANDOM=1 timeout 60 ./warren-perf-prio --port $P --queue b5-$kind $QA --producers 1 --consumers 1 \
        --size 16 --prefetch 1000 --time 10 --drain-timeout 5 --json --quiet 2>/dev/null
  done
done
