#!/usr/bin/env node
// Browser test of the management web UI: Debian's chromium, headless, driven by
// playwright-core. Logs in and does each of the UI's actions, checking each
// effect through the HTTP API; writes a screenshot per step; fails on any
// failed action, error message shown by the UI, or JavaScript error in the page.
//
//   UI_URL=http://127.0.0.1:15672/ AMQP_PORT=5672 SCREENSHOTS=build/ui-screenshots node tests/ui/ui.test.js
//
// UI_URL serves the UI at / and the API at /api/ (Warren itself, or
// tests/ui/devserver.js in front of the reference RabbitMQ). AMQP_PORT is the
// broker's AMQP port (a pika client opens the connection the test closes).
// UI_USER / UI_PASS (guest / guest) must be an administrator. CHROMIUM overrides
// /usr/bin/chromium. ONLY=regexp runs the matching steps only (and login).
// Prints one line per step and "N passed, N failed" last; exit 1 on any failure.
'use strict';
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const base = (process.env.UI_URL || 'http://127.0.0.1:15672/').replace(/\/?$/, '/');
const amqpPort = +(process.env.AMQP_PORT || 5672);
const user = process.env.UI_USER || 'guest', pass = process.env.UI_PASS || 'guest';
const shots = path.resolve(process.env.SCREENSHOTS || 'ui-screenshots');
const only = process.env.ONLY ? new RegExp(process.env.ONLY) : null;
const authz = 'Basic ' + Buffer.from(user + ':' + pass).toString('base64');
const T = 10000;

fs.mkdirSync(shots, { recursive: true });
for (const f of fs.readdirSync(shots)) if (f.endsWith('.png')) fs.unlinkSync(path.join(shots, f));

async function api(method, p, body) {
  const r = await fetch(base + 'api' + p, { method, headers: { Authorization: authz, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null; try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  return { status: r.status, data };
}
async function apiOk(method, p, body) {
  const r = await api(method, p, body);
  if (r.status >= 300) throw new Error(method + ' /api' + p + ' -> ' + r.status + ' ' + JSON.stringify(r.data));
  return r.data;
}
function assert(c, msg) { if (!c) throw new Error(msg); }
// Poll fn until it returns truthy (the API's statistics lag a few seconds on RabbitMQ).
async function until(fn, what, ms) {
  const t0 = Date.now(); let last;
  while (Date.now() - t0 < (ms || T)) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e.message; }
    await new Promise(r => setTimeout(r, 250));
  }
  throw new Error('timed out waiting for ' + what + (last ? ' (last: ' + JSON.stringify(last) + ')' : ''));
}
const sleep = ms => new Promise(r => setTimeout(r, ms));

let page, nshot = 0, passed = 0, failed = 0;
const jsErrors = [];
const failures = [];
let promptAnswer = null;

async function shot(name) {
  nshot++;
  await page.evaluate(() => window.scrollTo(0, 0)).catch(() => {}); // else the sticky header lands mid-page
  await page.screenshot({ path: path.join(shots, String(nshot).padStart(2, '0') + '-' + name.replace(/\W+/g, '-') + '.png'), fullPage: true }).catch(() => {});
}

async function step(name, fn) {
  if (only && name !== 'login' && !only.test(name)) return;
  const t0 = Date.now();
  const errsBefore = jsErrors.length;
  try {
    await fn();
    const shown = await page.$$eval('#flash .error', els => els.map(e => e.textContent));
    if (shown.length) throw new Error('the UI showed: ' + shown.join(' | '));
    if (jsErrors.length > errsBefore) throw new Error('JavaScript error in the page: ' + jsErrors.slice(errsBefore).join(' | '));
    passed++;
    console.log('ok   ' + name + ' (' + (Date.now() - t0) + ' ms)');
  } catch (e) {
    failed++;
    failures.push(name);
    console.log('FAIL ' + name + ': ' + e.message.split('\n')[0]);
    await shot('FAILED-' + name);
  }
  await page.$$eval('#flash div', els => els.forEach(e => e.remove())).catch(() => {});
}

async function go(hash) {
  // The same hash fires no hashchange: render the page afresh then.
  await page.evaluate(h => { if (location.hash === h) route(); else location.hash = h; }, hash);
  await page.waitForLoadState('domcontentloaded');
}
// Fill a form's named fields: {name: value} (checkbox: boolean).
async function fill(form, values) {
  for (const [k, v] of Object.entries(values)) {
    const el = page.locator(form + ' [name="' + k + '"]').first();
    const tag = await el.evaluate(e => e.tagName + ':' + (e.type || ''));
    if (tag.startsWith('SELECT')) await el.selectOption(String(v));
    else if (tag.endsWith(':checkbox')) await el.setChecked(!!v);
    else await el.fill(String(v));
  }
}
// Fill the first empty row of an arguments editor (or a new one).
async function addArg(editor, key, value, type) {
  const rows = page.locator(editor + ' .arg');
  let row = rows.last();
  if (await row.locator('.arg-key').inputValue()) {
    await page.locator(editor + ' button:has-text("+ argument")').click();
    row = rows.last();
  }
  await row.locator('.arg-key').fill(key);
  await row.locator('.arg-value').fill(String(value));
  await row.locator('.arg-type').selectOption(type);
}
async function flashed(text) {
  await page.locator('#flash div:not(.error)', { hasText: text }).first().waitFor({ timeout: T });
}
// A row of the page's tables holding text.
const rowWith = text => page.locator('tr', { hasText: text });

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  // No httpCredentials: a 401 with WWW-Authenticate that reached the browser's own
  // login dialog would close this headless page, so the login-failed step also checks
  // that the UI's requests never let it (fetch's credentials: 'omit').
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  page = await ctx.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', e => jsErrors.push(e.message));
  page.on('console', m => { if (m.type() === 'error') console.log('     console: ' + m.text()); });
  page.on('dialog', d => { if (d.type() === 'prompt' && promptAnswer !== null) d.accept(promptAnswer); else d.accept(); });

  const vh = 'ui-vh', q = 'ui-q', x = 'ui-x', u = 'ui-user';
  const vq = '/' + encodeURIComponent('/');
  // Leftovers of an earlier run against the same broker.
  await Promise.all([api('DELETE', '/vhosts/' + vh), api('DELETE', '/users/' + u), api('DELETE', '/queues' + vq + '/' + q),
    api('DELETE', '/queues' + vq + '/ui-imported'), api('DELETE', '/exchanges' + vq + '/' + x), api('DELETE', '/policies' + vq + '/ui-pol')]);
  const old = await api('GET', '/queues' + vq + '?page=1&page_size=500&name=ui-many-');
  if (old.status === 200) await Promise.all(old.data.items.map(e => api('DELETE', '/queues' + vq + '/' + e.name)));

  await step('login', async () => {
    await page.goto(base);
    await page.locator('#login-user').fill(user);
    await page.locator('#login-pass').fill('wrong-' + pass);
    await page.locator('.login button[type=submit]').click();
    await page.locator('.login p', { hasText: 'Login failed' }).waitFor();
    await shot('login-failed');
    await page.locator('#login-pass').fill(pass);
    await page.locator('.login button[type=submit]').click();
    await page.locator('#whoami', { hasText: user }).waitFor();
    assert(await page.evaluate(() => !!sessionStorage.getItem('warren.auth')), 'credentials not kept in sessionStorage');
  });
  if (failed) { console.log('cannot log in: stopping'); console.log(passed + ' passed, ' + failed + ' failed'); process.exit(1); }

  // Traffic for the charts: a queue with messages and some publishes.
  await apiOk('PUT', '/queues' + vq + '/ui-traffic', { durable: false, auto_delete: false, arguments: {} });
  for (let i = 0; i < 20; i++) await apiOk('POST', '/exchanges' + vq + '/amq.default/publish', { properties: {}, routing_key: 'ui-traffic', payload: 'm' + i, payload_encoding: 'string' });

  await step('overview', async () => {
    await go('#/');
    await page.locator('.total', { hasText: 'Queues' }).waitFor();
    await page.locator('#chart-lengths canvas').waitFor();
    await page.locator('#chart-rates canvas').waitFor();
    await rowWith('amqp').first().waitFor();
    await page.locator('text=No memory or disk alarm').waitFor();
    await sleep(500);
    await shot('overview');
  });

  await step('vhost add', async () => {
    await go('#/admin/vhosts');
    await fill('#add-vhost', { name: vh, description: 'made by the UI test' });
    await page.locator('#add-vhost button[type=submit]').click();
    await flashed('Virtual host ' + vh + ' added');
    await rowWith(vh).first().waitFor();
    await until(async () => (await api('GET', '/vhosts/' + vh)).status === 200, 'vhost in the API');
    await shot('vhosts');
  });

  await step('user add', async () => {
    await go('#/admin/users');
    await fill('#add-user', { name: u, password: 'secret-1', tags: 'monitoring' });
    await page.locator('#add-user button[type=submit]').click();
    await flashed('User ' + u + ' saved');
    await rowWith(u).first().waitFor();
    const r = await apiOk('GET', '/users/' + u);
    assert([].concat(r.tags).join(',') === 'monitoring', 'tags are ' + JSON.stringify(r.tags));
    // The UI changes tags by sending back the hash and algorithm it read.
    assert(/^rabbit_password_hashing_(sha256|sha512|md5)$/.test(r.hashing_algorithm), 'hashing_algorithm is ' + r.hashing_algorithm);
  });

  await step('user tags', async () => {
    promptAnswer = 'management,policymaker';
    await rowWith(u).locator('button', { hasText: 'Set tags' }).click();
    await flashed('Tags of ' + u + ' set');
    promptAnswer = null;
    await until(async () => {
      const r = await apiOk('GET', '/users/' + u);
      return [].concat(r.tags).sort().join(',') === 'management,policymaker';
    }, 'the new tags in the API');
    // The password must survive a tag change.
    const r = await fetch(base + 'api/whoami', { headers: { Authorization: 'Basic ' + Buffer.from(u + ':secret-1').toString('base64') } });
    assert(r.status === 200, 'user cannot log in after the tag change: ' + r.status);
    await shot('users');
  });

  await step('non-administrator', async () => {
    // A management user sees the overview; the Admin pages answer 401, which
    // must show as an error and not log the user out.
    const p2 = await ctx.browser().newPage();
    p2.setDefaultTimeout(T);
    p2.on('pageerror', e => jsErrors.push(e.message));
    try {
      await p2.goto(base);
      await p2.locator('#login-user').fill(u);
      await p2.locator('#login-pass').fill('secret-1');
      await p2.locator('.login button[type=submit]').click();
      await p2.locator('#whoami', { hasText: u }).waitFor();
      await p2.locator('.total', { hasText: 'Queues' }).waitFor();
      await p2.evaluate(() => { location.hash = '#/admin/users'; });
      await p2.locator('#flash .error').first().waitFor();
      await sleep(300);
      assert(await p2.locator('#whoami', { hasText: u }).isVisible(), 'the user was logged out');
      assert(await p2.evaluate(() => !!sessionStorage.getItem('warren.auth')), 'credentials dropped');
    } finally {
      await p2.close();
    }
  });

  await step('permission set', async () => {
    await go('#/admin/permissions');
    await fill('#set-permission', { user: u, vhost: vh, configure: '^ui-.*', write: '.*', read: '' });
    await page.locator('#set-permission button[type=submit]').click();
    await flashed('Permission set');
    const p = await apiOk('GET', '/permissions/' + vh + '/' + u);
    assert(p.configure === '^ui-.*' && p.write === '.*' && p.read === '', 'permission is ' + JSON.stringify(p));
    await rowWith('^ui-.*').first().waitFor();
    await shot('permissions');
  });

  await step('exchange declare', async () => {
    await go('#/exchanges');
    await fill('#declare-exchange', { vhost: '/', name: x, type: 'topic', durable: true });
    await page.locator('#declare-exchange button[type=submit]').click();
    await flashed('Exchange ' + x + ' declared');
    const e = await apiOk('GET', '/exchanges' + vq + '/' + x);
    assert(e.type === 'topic' && e.durable === true, 'exchange is ' + JSON.stringify(e));
    await page.locator('[data-filter=exchanges]').fill(x);
    await rowWith(x).first().waitFor();
    await shot('exchanges');
  });

  await step('queue declare with arguments', async () => {
    await go('#/queues');
    await fill('#declare-queue', { vhost: '/', type: 'classic', name: q, durable: true });
    await addArg('#declare-queue', 'x-max-length', 1000, 'number');
    await addArg('#declare-queue', 'x-overflow', 'reject-publish', 'string');
    await page.locator('#declare-queue button[type=submit]').click();
    await flashed('Queue ' + q + ' declared');
    const r = await apiOk('GET', '/queues' + vq + '/' + q);
    assert(r.arguments['x-max-length'] === 1000 && r.arguments['x-overflow'] === 'reject-publish', 'arguments are ' + JSON.stringify(r.arguments));
    await page.locator('[data-filter=queues]').fill(q);
    await rowWith(q).first().waitFor();
    await shot('queues');
  });

  await step('binding add', async () => {
    await go('#/exchanges/' + encodeURIComponent('/') + '/' + x);
    await fill('.bind-form', { dtype: 'q', other: q, routing_key: 'k.#' });
    await page.locator('.bind-form button[type=submit]').click();
    await flashed('Binding added');
    const bs = await apiOk('GET', '/exchanges' + vq + '/' + x + '/bindings/source');
    assert(bs.some(b => b.destination === q && b.routing_key === 'k.#'), 'bindings are ' + JSON.stringify(bs));
    await rowWith('k.#').first().waitFor();
  });

  await step('publish', async () => {
    await fill('#publish', { routing_key: 'k.1', delivery_mode: '2', payload: 'hello from the UI' });
    await addArg('#publish [data-args=headers]', 'x-test', 'yes', 'string');
    await page.locator('#publish button[type=submit]').click();
    await page.locator('#publish-result', { hasText: 'routed' }).waitFor();
    const t = await page.locator('#publish-result').textContent();
    assert(t.includes('published and routed'), 'publish result: ' + t);
    await until(async () => (await apiOk('GET', '/queues' + vq + '/' + q)).messages === 1, 'one message in ' + q);
    await shot('exchange');
  });

  await step('publish via the default exchange', async () => {
    await go('#/exchanges/' + encodeURIComponent('/') + '/');
    await page.locator('h1', { hasText: '(AMQP default)' }).waitFor();
    const before = (await apiOk('GET', '/queues' + vq + '/ui-traffic')).messages;
    await fill('#publish', { routing_key: 'ui-traffic', payload: 'via the default exchange' });
    await page.locator('#publish button[type=submit]').click();
    await page.locator('#publish-result', { hasText: 'published and routed' }).waitFor();
    await until(async () => (await apiOk('GET', '/queues' + vq + '/ui-traffic')).messages === before + 1, 'one more message in ui-traffic');
  });

  await step('get messages', async () => {
    await go('#/queues/' + encodeURIComponent('/') + '/' + q);
    await fill('#get-messages', { ackmode: 'ack_requeue_true', count: '5' });
    await page.locator('#get-messages button[type=submit]').click();
    await page.locator('#get-result .payload', { hasText: 'hello from the UI' }).waitFor();
    const props = await page.locator('#get-result').textContent();
    assert(props.includes('x-test') && props.includes('k.1'), 'message shown without its header or routing key');
    await until(async () => (await apiOk('GET', '/queues' + vq + '/' + q)).messages === 1, 'the message requeued');
    await shot('queue-get');
  });

  await step('queue rates chart', async () => {
    await page.locator('#chart-queue-rates canvas').waitFor();
    await page.locator('#chart-queue-lengths canvas').waitFor();
    const legend = await page.locator('#chart-queue-rates .legend').textContent();
    assert(legend.includes('Publish'), 'rates chart legend: ' + legend);
  });

  await step('purge', async () => {
    await page.locator('button', { hasText: 'Purge messages' }).click();
    await flashed('Queue purged');
    await until(async () => (await apiOk('GET', '/queues' + vq + '/' + q)).messages === 0, 'queue empty');
  });

  await step('binding remove', async () => {
    await rowWith('k.#').locator('button', { hasText: 'Unbind' }).click();
    await flashed('Binding removed');
    const bs = await apiOk('GET', '/queues' + vq + '/' + q + '/bindings');
    assert(!bs.some(b => b.source === x), 'binding still there: ' + JSON.stringify(bs));
  });

  // A client connection (pika), for the connection and channel pages.
  const holder = spawn('/usr/bin/python3', ['-c', `
import pika, sys, time
c = pika.BlockingConnection(pika.ConnectionParameters(host='127.0.0.1', port=${amqpPort}, heartbeat=0,
    client_properties={'connection_name': 'ui-test-conn'}))
ch = c.channel()
ch.basic_qos(prefetch_count=7)
print('open', flush=True)
t0 = time.time()
try:
    while time.time() - t0 < 60:
        c.process_data_events(0.2)
except Exception as e:
    print('closed', type(e).__name__, flush=True)
    sys.exit(0)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let holderOut = '';
  holder.stdout.on('data', d => { holderOut += d; });
  // The test's connection: the one whose channel has prefetch 7 (not every broker
  // lists client_properties' connection_name).
  let theConn = null;
  const connName = async () => {
    const cs = await apiOk('GET', '/connections');
    const c = (Array.isArray(cs) ? cs : cs.items).find(c => c.name === theConn);
    return c && c.name;
  };

  await step('channels', async () => {
    await until(() => holderOut.includes('open'), 'the pika client to connect');
    await until(async () => {
      const ch = await apiOk('GET', '/channels');
      const c = (Array.isArray(ch) ? ch : ch.items).find(c => c.prefetch_count === 7);
      theConn = c && c.connection_details && c.connection_details.name;
      return theConn;
    }, 'the channel (prefetch 7) and its connection_details in the API');
    await go('#/channels');
    await rowWith('(1)').first().waitFor();
    await shot('channels');
  });

  await step('connection close', async () => {
    const name = await until(connName, 'the connection in the API');
    await go('#/connections');
    const row = rowWith(name);
    await row.first().waitFor();
    await shot('connections');
    await row.locator('button', { hasText: 'Close' }).click();
    await flashed('Connection closed');
    await until(async () => !(await connName()), 'the connection to go');
    await until(() => holderOut.includes('closed'), 'the client to see its connection closed');
  });
  holder.kill();

  await step('policy set', async () => {
    await go('#/admin/policies');
    await fill('#set-policy', { vhost: '/', name: 'ui-pol', pattern: '^ui-', apply_to: 'queues', priority: '3' });
    await addArg('#set-policy', 'max-length', 10, 'number');
    await page.locator('#set-policy button[type=submit]').click();
    await flashed('Policy ui-pol set');
    const p = await apiOk('GET', '/policies' + vq + '/ui-pol');
    assert(p.definition['max-length'] === 10 && p['apply-to'] === 'queues' && p.priority === 3, 'policy is ' + JSON.stringify(p));
    await rowWith('ui-pol').first().waitFor();
    await shot('policies');
  });

  await step('policy clear', async () => {
    await rowWith('ui-pol').locator('button', { hasText: 'Clear' }).click();
    await flashed('Policy ui-pol cleared');
    assert((await api('GET', '/policies' + vq + '/ui-pol')).status === 404, 'policy still there');
  });

  await step('definitions export', async () => {
    await go('#/admin/definitions');
    const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('#export').click()]);
    const file = path.join(shots, 'definitions.json');
    await dl.saveAs(file);
    const d = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert(d.queues.some(e => e.name === q) && d.exchanges.some(e => e.name === x) && d.users.some(e => e.name === u), 'export lacks the test objects');
  });

  await step('definitions import', async () => {
    const file = path.join(shots, 'import.json');
    fs.writeFileSync(file, JSON.stringify({ queues: [{ name: 'ui-imported', vhost: '/', durable: true, auto_delete: false, arguments: {} }] }));
    await page.locator('#import-file').setInputFiles(file);
    await page.locator('#import button[type=submit]').click();
    await flashed('Definitions imported');
    await until(async () => (await api('GET', '/queues' + vq + '/ui-imported')).status === 200, 'the imported queue');
    await shot('definitions');
  });

  await step('pagination', async () => {
    const n = 230;
    const names = Array.from({ length: n }, (_, i) => 'ui-many-' + String(i).padStart(4, '0'));
    for (let i = 0; i < n; i += 20)
      await Promise.all(names.slice(i, i + 20).map(nm => apiOk('PUT', '/queues' + vq + '/' + nm, { durable: false, auto_delete: false, arguments: {} })));
    await go('#/queues');
    await page.locator('[data-filter=queues]').fill('ui-many-');
    await page.locator('.pager', { hasText: 'page 1 of 3' }).waitFor();
    assert(await rowWith('ui-many-0099').count() === 1 && await rowWith('ui-many-0100').count() === 0, 'page 1 holds the wrong rows');
    await page.locator('.pager button', { hasText: 'next' }).click();
    await page.locator('.pager', { hasText: 'page 2 of 3' }).waitFor();
    await rowWith('ui-many-0100').first().waitFor();
    await shot('queues-paged');
    await Promise.all(names.map(nm => api('DELETE', '/queues' + vq + '/' + nm)));
  });

  await step('queue delete', async () => {
    await go('#/queues/' + encodeURIComponent('/') + '/' + q);
    await page.locator('button', { hasText: 'Delete queue' }).click();
    await flashed('Queue deleted');
    assert((await api('GET', '/queues' + vq + '/' + q)).status === 404, 'queue still there');
    await api('DELETE', '/queues' + vq + '/ui-imported');
    await api('DELETE', '/queues' + vq + '/ui-traffic');
  });

  await step('exchange delete', async () => {
    await go('#/exchanges/' + encodeURIComponent('/') + '/' + x);
    await page.locator('button.danger', { hasText: 'Delete' }).click();
    await flashed('Exchange deleted');
    assert((await api('GET', '/exchanges' + vq + '/' + x)).status === 404, 'exchange still there');
  });

  await step('permission clear', async () => {
    await go('#/admin/permissions');
    await rowWith(u).filter({ hasText: vh }).locator('button', { hasText: 'Clear' }).click();
    await flashed('Permission cleared');
    assert((await api('GET', '/permissions/' + vh + '/' + u)).status === 404, 'permission still there');
  });

  await step('user delete', async () => {
    await go('#/admin/users');
    await rowWith(u).locator('button', { hasText: 'Delete' }).click();
    await flashed('User ' + u + ' deleted');
    assert((await api('GET', '/users/' + u)).status === 404, 'user still there');
  });

  await step('vhost delete', async () => {
    await go('#/admin/vhosts');
    await rowWith(vh).locator('button', { hasText: 'Delete' }).click();
    await flashed('Virtual host ' + vh + ' deleted');
    assert((await api('GET', '/vhosts/' + vh)).status === 404, 'vhost still there');
  });

  await step('logout', async () => {
    await page.locator('#logout').click();
    await page.locator('#login-user').waitFor();
    assert(await page.evaluate(() => !sessionStorage.getItem('warren.auth')), 'credentials left in sessionStorage');
    await page.reload();
    await page.locator('#login-user').waitFor();
  });

  await browser.close();
  if (jsErrors.length) console.log('page JavaScript errors: ' + jsErrors.join(' | '));
  console.log('screenshots in ' + shots);
  if (failures.length) console.log('failed: ' + failures.join(', '));
  console.log(passed + ' passed, ' + failed + ' failed');
  process.exit(failed || jsErrors.length || !passed ? 1 : 0);
})().catch(e => { console.log('FAIL harness: ' + e.stack); console.log(passed + ' passed, ' + (failed + 1) + ' failed'); process.exit(1); });
