"""Patch a private copy of amqp091-go's integration_test.go so no test can pass
without running (used by ../amqp091-go.sh; the Debian sources are not touched).

usage: /usr/bin/python3 patch.py PATH/TO/integration_test.go
Each replacement must match exactly once, otherwise this exits 1 (upstream changed).
"""
import sys

PATCHES = [
    # integrationRabbitMQ(): returned nil (test body skipped, test "passes")
    # unless product == "RabbitMQ". Used by TestRabbitMQQueueTTLGet and
    # TestRabbitMQQueueNackMultipleRequeue.
    ('ok && server == "RabbitMQ"', 'warrenProductCheck(t, server, ok)'),
    # TestIntegrationRecoverNotImplemented: same gate inside the test.
    ('ok && product.(string) == "RabbitMQ"', 'warrenProductCheck(t, product, ok)'),
    # integrationQueue(): returned nil, nil on a channel.open or queue.declare
    # error, making its four callers pass silently.
    ('\t\t\t\treturn conn, channel\n\t\t\t}\n\t\t}\n\t}\n\treturn nil, nil\n}',
     '\t\t\t\treturn conn, channel\n\t\t\t}\n\t\t}\n\t}\n'
     '\tt.Fatalf("integrationQueue %q: channel.open or queue.declare failed", name)\n'
     '\treturn nil, nil\n}'),
]


def main(path):
    with open(path) as f:
        src = f.read()
    for old, new in PATCHES:
        n = src.count(old)
        if n != 1:
            sys.exit(f"patch.py: expected 1 match of {old!r} in {path}, found {n}")
        src = src.replace(old, new)
    with open(path, 'w') as f:
        f.write(src)


if __name__ == '__main__':
    main(sys.argv[1])
