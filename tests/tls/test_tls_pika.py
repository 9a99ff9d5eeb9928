#!/usr/bin/python3
"""amqps and SASL EXTERNAL with pika against Warren.

usage: test_tls_pika.py WARREN_BIN GEN_CERTS_SH
       test_tls_pika.py --external TCP_PORT TLS_PORT CERTDIR [--mode required|optional]
         (a broker already running with the certificates in CERTDIR, configured
          like broker A (required) or B (optional) below — e.g. the reference RabbitMQ)

Brokers started here, each with a throw-away PKI from gen-certs.sh:
  A "required": verify_peer, fail_if_no_peer_cert = true, ssl_cert_login_from = common_name
  B "optional": verify_peer, fail_if_no_peer_cert = false, the default
     ssl_cert_login_from (distinguished_name), default_user = the client
     certificate's DN
plus start-up errors for bad certificate/key paths.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

import pika
import pika.credentials
import pika.exceptions

HANDSHAKE_TIMEOUT_MS = 1500
DN_USER = "CN=guest,O=WarrenTest"  # RFC 4514 form of client.pem's subject

failures = []
passed = 0


def check(name, fn, *args, **kw):
    global passed
    try:
        fn(*args, **kw)
        passed += 1
        print(f"ok   {name}", flush=True)
    except Exception as e:  # noqa: BLE001 — report every failure, keep going
        failures.append(name)
        print(f"FAIL {name}: {e!r}", flush=True)
        traceback.print_exc()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Broker:
    def __init__(self, binary, tmp, certs, extra):
        self.tcp, self.tls = free_port(), free_port()
        self.certs = certs
        self.dir = tempfile.mkdtemp(dir=tmp)
        conf = os.path.join(self.dir, "warren.conf")
        with open(conf, "w") as f:
            f.write(f"listeners.tcp.default = 127.0.0.1:{self.tcp}\n"
                    f"listeners.ssl.default = 127.0.0.1:{self.tls}\n"
                    f"ssl_options.cacertfile = {certs}/ca.pem\n"
                    f"ssl_options.certfile = {certs}/server.pem\n"
                    f"ssl_options.keyfile = {certs}/server.key\n"
                    f"ssl_handshake_timeout = {HANDSHAKE_TIMEOUT_MS}\n" + extra)
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen([binary, "--config", conf, "--data-dir", os.path.join(self.dir, "data"),
                                      "--threads", "2"], stderr=self.log)
        for _ in range(200):
            if port_open(self.tcp) and port_open(self.tls):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("broker did not start: " + self.logtext())

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        if rc != 0:
            failures.append(f"broker exit status {rc}")
            print(self.logtext())


class External:
    def __init__(self, tcp, tls, certs):
        self.tcp, self.tls, self.certs = tcp, tls, certs

    def logtext(self):
        return ""


def context(b, cert=None, version=None):
    ctx = ssl.create_default_context(cafile=f"{b.certs}/ca.pem")
    if cert:
        ctx.load_cert_chain(f"{b.certs}/{cert}.pem", f"{b.certs}/{cert}.key")
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def params(b, cert=None, version=None, external=False, user="guest", password="guest"):
    creds = pika.credentials.ExternalCredentials() if external else pika.PlainCredentials(user, password)
    return pika.ConnectionParameters("localhost", b.tls, credentials=creds, connection_attempts=1,
                                     ssl_options=pika.SSLOptions(context(b, cert, version), "localhost"),
                                     blocked_connection_timeout=10, socket_timeout=5)


def round_trip(conn, n=20, user_id=None):
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    big = b"y" * 100000
    props = pika.BasicProperties(user_id=user_id) if user_id else None
    for i in range(n):
        body = f"m{i:05d}".encode() + (big if i % 7 == 6 else b"")
        ch.basic_publish("", q, body, props)
    got = []
    for method, _props, body in ch.consume(q, auto_ack=True, inactivity_timeout=5):
        assert method is not None, f"only {len(got)} of {n} deliveries arrived"
        got.append(body)
        if len(got) == n:
            break
    ch.cancel()
    for i, body in enumerate(got):
        assert body[:6] == f"m{i:05d}".encode(), f"delivery {i} out of order"
        assert len(body) == 6 + (len(big) if i % 7 == 6 else 0)
    ch.close()


def tls_round_trip(b, version, cert=None, external=False, user_id=None, **kw):
    conn = pika.BlockingConnection(params(b, cert, version, external, **kw))
    try:
        sock_version = conn._impl._transport._sock.version()  # the negotiated protocol
        if version:
            want = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            assert sock_version == want, f"negotiated {sock_version}, wanted {want}"
        round_trip(conn, user_id=user_id)
    finally:
        conn.close()


def expect_handshake_refused(b, cert, version):
    """The TLS layer must refuse: with valid PLAIN credentials the connection still fails, and not
    with an AMQP-level (connection.close) refusal."""
    try:
        conn = pika.BlockingConnection(params(b, cert, version))
    except pika.exceptions.ProbableAuthenticationError as e:
        raise AssertionError(f"refused by AMQP authentication, not by TLS: {e!r}")
    except (pika.exceptions.AMQPConnectionError, ssl.SSLError):
        return  # TLS 1.2: the alert fails the handshake (SSLError); 1.3: it ends the stream afterwards
    conn.close()
    raise AssertionError(f"connected with client certificate {cert} over {version}")


def expect_login_refused(b, cert, external, user="guest", password="guest"):
    try:
        conn = pika.BlockingConnection(params(b, cert, None, external, user, password))
    except pika.exceptions.ProbableAuthenticationError as e:
        assert "403" in str(e) and "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL" in str(e), e
        return
    conn.close()
    raise AssertionError("login was not refused")


def stalled_handshakes(b):
    silent = socket.create_connection(("127.0.0.1", b.tls))
    partial = socket.create_connection(("127.0.0.1", b.tls))
    partial.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]))  # half a ClientHello
    t0 = time.monotonic()
    tls_round_trip(b, ssl.TLSVersion.TLSv1_3, "client")
    tls_round_trip(b, ssl.TLSVersion.TLSv1_2, "client")
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.tcp))
    round_trip(conn)
    conn.close()
    busy = time.monotonic() - t0
    assert busy < HANDSHAKE_TIMEOUT_MS / 1000, f"other clients took {busy:.2f}s while two handshakes stalled"
    for s in (silent, partial):
        s.settimeout(HANDSHAKE_TIMEOUT_MS / 1000 + 4)
        try:
            data = s.recv(4096)
            while data:
                data = s.recv(4096)
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("stalled TLS client was not dropped")
        s.close()
    waited = time.monotonic() - t0
    assert waited >= HANDSHAKE_TIMEOUT_MS / 1000 - 0.3, f"dropped after {waited:.2f}s, before the timeout"


def no_stalls_consuming_large_messages(b):
    """24 MB of 20 kB messages over TLS: deliveries must flow without pauses (a delivery posted
    to its own worker while flushing once waited for the 1 s tick, every ~11 MB)."""
    conn = pika.BlockingConnection(params(b, "client", None))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    body = b"z" * 20000
    n = 1200
    for _ in range(n):
        ch.basic_publish("", q, body)
    ch.queue_declare(q, passive=True)
    last, worst, got = time.monotonic(), 0.0, 0
    for method, _p, data in ch.consume(q, auto_ack=True, inactivity_timeout=5):
        assert method is not None, f"only {got} of {n} deliveries arrived"
        now = time.monotonic()
        worst = max(worst, now - last)
        last = now
        got += 1
        if got == n:
            break
    conn.close()
    assert worst < 0.7, f"deliveries paused for {worst:.2f}s"


def plain_tcp(b):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.tcp))
    round_trip(conn, user_id="guest")
    conn.close()


def external_on_tcp_refused(b):
    p = pika.ConnectionParameters("127.0.0.1", b.tcp, credentials=pika.credentials.ExternalCredentials(),
                                  connection_attempts=1)
    try:
        pika.BlockingConnection(p).close()
    except pika.exceptions.AMQPConnectionError:
        return  # pika finds EXTERNAL missing from connection.start's mechanisms
    raise AssertionError("EXTERNAL accepted on plain TCP")


def suite_required(b):
    print(f"-- broker A (client certificate required, common_name) tcp {b.tcp} tls {b.tls}")
    check("A tls1.2 publish/consume", tls_round_trip, b, ssl.TLSVersion.TLSv1_2, "client")
    check("A tls1.3 publish/consume", tls_round_trip, b, ssl.TLSVersion.TLSv1_3, "client")
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        check(f"A no client cert refused {v.name}", expect_handshake_refused, b, None, v)
        check(f"A expired client cert refused {v.name}", expect_handshake_refused, b, "expired", v)
        check(f"A wrong-CA client cert refused {v.name}", expect_handshake_refused, b, "otherca-client", v)
    check("A EXTERNAL as the certificate's CN", tls_round_trip, b, None, "client", True, "guest")
    check("A EXTERNAL unknown CN refused", expect_login_refused, b, "stranger", True)
    check("A stalled handshakes", stalled_handshakes, b)
    check("A large messages flow without pauses", no_stalls_consuming_large_messages, b)
    check("A plain TCP works", plain_tcp, b)
    check("A EXTERNAL refused on TCP", external_on_tcp_refused, b)


def suite_optional(b):
    print(f"-- broker B (client certificate optional, distinguished_name) tcp {b.tcp} tls {b.tls}")
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        check(f"B {v.name} without client cert, PLAIN", tls_round_trip, b, v, None, False, DN_USER,
              user=DN_USER, password="s3cret")
        check(f"B wrong-CA client cert refused {v.name}", expect_handshake_refused, b, "otherca-client", v)
    check("B EXTERNAL as the certificate's DN", tls_round_trip, b, None, "client", True, DN_USER)
    check("B EXTERNAL without a certificate refused", expect_login_refused, b, None, True)
    check("B EXTERNAL unknown DN refused", expect_login_refused, b, "stranger", True)


def startup_errors(binary, tmp, certs):
    def run(extra):
        conf = os.path.join(tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write(f"listeners.tcp.default = 127.0.0.1:{free_port()}\nlisteners.ssl.default = 127.0.0.1:{free_port()}\n"
                    + extra)
        p = subprocess.run([binary, "--config", conf, "--data-dir", os.path.join(tmp, "bad-data")],
                           capture_output=True, text=True, timeout=10)
        return p.returncode, p.stderr.strip()

    def missing(key, path, extra):
        rc, err = run(extra)
        assert rc != 0, f"exit status {rc}"
        lines = err.splitlines()
        assert len(lines) == 1 and key in lines[0] and path in lines[0], f"stderr: {err!r}"

    ok = (f"ssl_options.certfile = {certs}/server.pem\nssl_options.keyfile = {certs}/server.key\n"
          f"ssl_options.cacertfile = {certs}/ca.pem\n")
    check("start: missing certfile", missing, "ssl_options.certfile", "/nonexistent/cert.pem",
          ok.replace(f"{certs}/server.pem", "/nonexistent/cert.pem"))
    check("start: missing keyfile", missing, "ssl_options.keyfile", "/nonexistent/key.pem",
          ok.replace(f"{certs}/server.key", "/nonexistent/key.pem"))
    check("start: missing cacertfile", missing, "ssl_options.cacertfile", "/nonexistent/ca.pem",
          ok.replace(f"{certs}/ca.pem", "/nonexistent/ca.pem"))
    check("start: key not matching cert", missing, "ssl_options.keyfile", f"{certs}/client.key",
          ok.replace(f"{certs}/server.key", f"{certs}/client.key"))
    check("start: certfile is not a certificate", missing, "ssl_options.certfile", f"{certs}/server.key",
          ok.replace(f"{certs}/server.pem", f"{certs}/server.key"))
    check("start: bad verify value", missing, "ssl_options.verify", "verify_maybe",
          ok + "ssl_options.verify = verify_maybe\n")
    check("start: TLS listener without certificate", missing, "ssl_options.certfile", "TLS listener", "")


def main():
    if sys.argv[1] == "--external":
        tcp, tls, certs = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        mode = sys.argv[6] if len(sys.argv) > 6 and sys.argv[5] == "--mode" else "required"
        b = External(tcp, tls, certs)
        (suite_required if mode == "required" else suite_optional)(b)
    else:
        binary, gen = sys.argv[1], sys.argv[2]
        tmp = tempfile.mkdtemp(prefix="warren-tls-pika-")
        try:
            certs = os.path.join(tmp, "certs")
            subprocess.run([gen, certs], check=True)
            a = Broker(binary, tmp, certs, "ssl_options.verify = verify_peer\n"
                       "ssl_options.fail_if_no_peer_cert = true\nssl_cert_login_from = common_name\n")
            try:
                suite_required(a)
            finally:
                a.stop()
            b = Broker(binary, tmp, certs, "ssl_options.verify = verify_peer\n"
                       f"ssl_options.fail_if_no_peer_cert = false\ndefault_user = {DN_USER}\ndefault_pass = s3cret\n")
            try:
                suite_optional(b)
            finally:
                b.stop()
            startup_errors(binary, tmp, certs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {len(failures)} failed")
    if failures:
        print("failed: " + "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
