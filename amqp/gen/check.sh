#!/bin/sh
# Regenerate methods.h/methods.c into a temp dir and diff against the
# committed files. Exit 0 when identical, 1 on a difference or failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
amqp=$(dirname "$here")
py=${PYTHON:-python3}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$py" "$here/gen_methods.py" --out "$tmp" ${AMQ_SPEC:+--spec "$AMQ_SPEC"} || exit 1
rc=0
for f in include/amq/methods.h src/methods.c; do
  diff -u "$amqp/$f" "$tmp/$f" || rc=1
done
[ $rc -eq 0 ] && echo "generated files are up to date" || echo "generated files are stale: run python3 amqp/gen/gen_methods.py" >&2
exit $rc
