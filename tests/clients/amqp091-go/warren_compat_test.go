//go:build integration
// +build integration

// Added by Warren's tests/clients/amqp091-go.sh to its private copy of the
// amqp091-go sources (never to /usr/share/gocode). Upstream gates some tests
// on the server's "product" property being "RabbitMQ" and otherwise lets them
// pass without asserting anything. The script rewrites those gates to call
// warrenProductCheck, so the tests really run against any broker claiming
// RabbitMQ compatibility (and fail or are skip-listed if it lacks the feature).

package amqp091

import "testing"

// warrenProductCheck replaces `ok && product == "RabbitMQ"`: fails the test if
// the server sent no product property, else logs the product and returns true.
func warrenProductCheck(t *testing.T, product interface{}, ok bool) bool {
	t.Helper()
	if !ok {
		t.Fatalf("server sent no \"product\" property in connection.start")
	}
	t.Logf("server product %v: running RabbitMQ-gated test", product)
	return true
}
