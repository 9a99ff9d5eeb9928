'use strict';
// Preloaded (node --require) by ../amqplib.sh. node also loads it into the
// `node --test` runner process itself; it only acts in the per-file test
// processes, which node 20 starts with NODE_TEST_CONTEXT set (child-v8).
//
// 1. Skip list: if WARREN_SKIP_FILE names a file, every test whose full name
//    ("Suite > sub-suite > test title", as printed by the summary) is listed there
//    is registered with {skip: 'listed in skip file'}, so node:test reports it as
//    skipped (never as passed) and does not run it. Listing a suite marks every
//    test inside it skipped (so each is counted); the suite body and its
//    before/after hooks still run, the tests and their *Each hooks do not.
// 2. Timeouts: node 20's --test-timeout also times out a whole test file (the
//    rest of the file is then lost), so amqplib.sh passes a large one and this
//    gives each test and each hook its own timeout (WARREN_TEST_TIMEOUT_MS) unless
//    the test sets one: a hung test fails alone and the file goes on.
// 3. Lingering sockets: a failed test can leave a connection open (e.g. an
//    unanswered connection.close), which keeps the test process alive until the
//    file timeout. A root-level after() hook arms an unref'd 3 s timer that then
//    exits the process (keeping its exit code) and says so on stderr.
//    (--test-force-exit is not used: in node 20 it can cut the report short.)
// 4. Port redirect: parts of the suite hard-code port 5672 (callback_api and
//    connect tests: 'amqp://localhost', 'amqp://[::1]', connect() with no URL).
//    If AMQP_PORT is set and is not 5672 (and WARREN_NO_REDIRECT is unset),
//    connections to localhost/127.0.0.1/::1 port 5672 go to AMQP_PORT instead,
//    so the whole suite talks to the broker under test.
const fs = require('node:fs');
const net = require('node:net');

const SEP = ' > ';

function readSkips(file) {
  if (!file) return new Set();
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  return new Set(lines.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
}

// Split node:test's (name?, options?, fn?) arguments.
function splitArgs(args) {
  let [name, options, fn] = args;
  if (typeof name !== 'string') [name, options, fn] = [undefined, name, options];
  if (typeof options === 'function') [options, fn] = [undefined, options];
  return { name, options: options || {}, fn };
}

// Wrap test()/it() or describe(): add skip and timeout options; for suites,
// track the enclosing names (suite bodies run synchronously inside describe()).
function wrapTest(orig, isSuite, skips, timeout, stack) {
  const wrapped = function (...args) {
    const { name, options, fn } = splitArgs(args);
    const label = name !== undefined ? name : (fn && fn.name) || '<anonymous>';
    const full = [...stack.map((e) => e.label), label].join(SEP);
    const skipped = skips.has(full) || stack.some((e) => e.skipped);
    let opts = options;
    if (!isSuite && skipped) opts = { ...opts, skip: 'listed in skip file' };
    if (!isSuite && timeout > 0 && opts.timeout === undefined) opts = { ...opts, timeout };
    let body = fn;
    if (isSuite && typeof fn === 'function') {
      body = function (...a) {
        stack.push({ label, skipped });
        try {
          return fn.apply(this, a);
        } finally {
          stack.pop();
        }
      };
    }
    const out = name !== undefined ? [name, opts] : [opts];
    if (body !== undefined) out.push(body);
    return orig.apply(this, out);
  };
  for (const k of Object.keys(orig)) wrapped[k] = orig[k];
  return wrapped;
}

// Hooks take (fn, options).
function wrapHook(orig, timeout) {
  return function (fn, options) {
    const opts = options || {};
    return orig.call(this, fn, opts.timeout === undefined ? { ...opts, timeout } : opts);
  };
}

function installTestWrappers() {
  const nodeTest = require('node:test');
  const skips = readSkips(process.env.WARREN_SKIP_FILE);
  const timeout = Number(process.env.WARREN_TEST_TIMEOUT_MS || 0);
  if (skips.size > 0 || timeout > 0) {
    const stack = []; // enclosing suites: {label, skipped}
    const testFn = wrapTest(nodeTest.test, false, skips, timeout, stack);
    const suiteFn = wrapTest(nodeTest.describe, true, skips, timeout, stack);
    nodeTest.test = testFn;
    nodeTest.it = testFn;
    nodeTest.describe = suiteFn;
    nodeTest.suite = suiteFn;
    if (timeout > 0) {
      for (const hook of ['before', 'after', 'beforeEach', 'afterEach']) {
        nodeTest[hook] = wrapHook(nodeTest[hook], timeout);
      }
    }
  }
  nodeTest.after(() => {
    setTimeout(() => {
      process.stderr.write('preload.js: test process alive 3 s after its tests ended (open sockets); exiting\n');
      process.exit();
    }, 3000).unref();
  });
}

function installRedirect() {
  const port = Number(process.env.AMQP_PORT || 5672);
  if (port === 5672 || process.env.WARREN_NO_REDIRECT) return;
  const LOOPBACK = new Set([undefined, '', 'localhost', '127.0.0.1', '::1']);
  const orig = net.connect;
  const redirect = function (opts, ...rest) {
    if (opts && typeof opts === 'object' && Number(opts.port) === 5672 && LOOPBACK.has(opts.host)) {
      opts = { ...opts, port };
    }
    return orig.call(this, opts, ...rest);
  };
  net.connect = redirect;
  net.createConnection = redirect;
}

if (process.env.NODE_TEST_CONTEXT) {
  installTestWrappers();
  installRedirect();
}
