/* Warren management UI: a small single-page app over RabbitMQ 3.10's
 * management HTTP API (/api/...). No framework, no external assets.
 * Credentials: HTTP basic, kept in sessionStorage, sent on every fetch. */
'use strict';

const $ = (sel, root) => (root || document).querySelector(sel);
const main = () => $('#main');
const enc = encodeURIComponent;
const KEY = 'warren.auth';
const PAGE_SIZE = 100;

let timer = null;     // the current page's refresh timer
let pageGen = 0;      // bumped on each navigation: stale async renders drop out
let vhostsCache = null;

/* ---------- DOM helpers ---------- */

// h('tag.class#id', {attrs}, child...) — children are nodes or text (never parsed as HTML).
function h(spec, attrs, ...kids) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [null, spec, ''];
  const el = document.createElement(m[1] || 'div');
  (m[2].match(/[.#][\w-]+/g) || []).forEach(p => { if (p[0] === '.') el.classList.add(p.slice(1)); else el.id = p.slice(1); });
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) { kids.unshift(attrs); attrs = null; }
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  const add = c => {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  kids.forEach(add);
  return el;
}

// Replace el's children with kids (nested arrays flattened, null/false dropped, text as text).
function put(el, ...kids) {
  el.replaceChildren();
  const tmp = h('div', null, kids);
  while (tmp.firstChild) el.appendChild(tmp.firstChild);
  return el;
}

function flash(msg, isError) {
  const d = h('div' + (isError ? '.error' : ''), null, msg);
  $('#flash').appendChild(d);
  setTimeout(() => d.remove(), isError ? 8000 : 3500);
}

function fmtNum(n) {
  if (n === undefined || n === null || n === '') return '';
  if (typeof n !== 'number') return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}
function fmtRate(d) { return d && typeof d.rate === 'number' ? fmtNum(Math.round(d.rate * 10) / 10) + '/s' : ''; }
function fmtBytes(n) {
  if (typeof n !== 'number') return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function fmtTime(ms) { return new Date(ms).toLocaleTimeString(); }
function stat(obj, path) { return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj); }

/* ---------- API ---------- */

function auth() { return sessionStorage.getItem(KEY); }

class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function api(method, path, body, headers) {
  // credentials 'omit': the Authorization header still goes, but a 401 carrying
  // WWW-Authenticate (the API sends it on a failed login) does not make the browser
  // pop up its own login dialog.
  const opt = { method, credentials: 'omit', headers: Object.assign({ Authorization: 'Basic ' + auth(), 'X-Requested-With': 'XMLHttpRequest' }, headers || {}) };
  if (body !== undefined) { opt.headers['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
  const r = await fetch('api' + path, opt);
  // 401 means wrong credentials, or a user whose tags do not allow this request
  // (a management user asking for /api/users): only the first logs out.
  if (r.status === 401 && path !== '/whoami') {
    const who = await fetch('api/whoami', { credentials: 'omit', headers: { Authorization: 'Basic ' + auth(), 'X-Requested-With': 'XMLHttpRequest' } });
    if (who.status === 401) { logout('Your session is no longer valid: log in again.'); throw new ApiError(401, 'not authorised'); }
  }
  const text = await r.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
  if (!r.ok) {
    const why = data && typeof data === 'object' ? (data.reason || data.error) : (data || r.statusText);
    throw new ApiError(r.status, r.status + ' ' + why);
  }
  return data;
}
const get = p => api('GET', p);

// Run an action from a button or form; flash its outcome; refresh the page on success.
async function act(label, fn, after) {
  try {
    const res = await fn();
    flash(label);
    if (after) await after(res); else route();
    return res;
  } catch (e) {
    if (auth()) flash(label + ' failed: ' + e.message, true);
    return undefined;
  }
}

async function vhosts(force) {
  if (!vhostsCache || force) vhostsCache = (await get('/vhosts?columns=name')).map(v => v.name);
  return vhostsCache;
}

/* ---------- login ---------- */

function logout(msg) {
  sessionStorage.removeItem(KEY);
  vhostsCache = null;
  showLogin(msg);
}

function showLogin(msg) {
  clearInterval(timer);
  $('#top').hidden = true;
  const user = h('input#login-user', { type: 'text', name: 'username', autocomplete: 'username', value: 'guest' });
  const pass = h('input#login-pass', { type: 'password', name: 'password', autocomplete: 'current-password' });
  const err = h('p.muted', null, msg || '');
  const form = h('form', { onsubmit: async e => {
    e.preventDefault();
    const token = btoa(unescape(encodeURIComponent(user.value + ':' + pass.value)));
    sessionStorage.setItem(KEY, token);
    try {
      await api('GET', '/whoami');
      start();
    } catch (ex) {
      sessionStorage.removeItem(KEY);
      err.textContent = ex.status === 401 ? 'Login failed: wrong user name or password, or the user has no management tag.' : 'Login failed: ' + ex.message;
    }
  } },
  h('label', null, 'User name', user), h('label', null, 'Password', pass), h('button', { type: 'submit' }, 'Log in'));
  put(main(), h('div.login.box', null, h('h1', null, 'Warren management'), form, err));
  user.focus();
}

async function start() {
  let me;
  try { me = await get('/whoami'); } catch (e) { return; }
  $('#top').hidden = false;
  $('#whoami').textContent = 'User ' + me.name + (me.tags && me.tags.length ? ' (' + [].concat(me.tags).join(', ') + ')' : '');
  get('/overview?columns=cluster_name,product_name,product_version').then(o => {
    $('#cluster').textContent = '· ' + (o.cluster_name || '') + ' · ' + (o.product_name || '') + ' ' + (o.product_version || '');
  }).catch(() => {});
  if (!location.hash) location.hash = '#/';
  route();
}

/* ---------- router ---------- */

const routes = [
  [/^\/$/, pageOverview, 'overview'],
  [/^\/connections$/, pageConnections, 'connections'],
  [/^\/connections\/([^/]+)$/, pageConnection, 'connections'],
  [/^\/channels$/, pageChannels, 'channels'],
  [/^\/exchanges$/, pageExchanges, 'exchanges'],
  [/^\/exchanges\/([^/]+)\/([^/]*)$/, pageExchange, 'exchanges'],
  [/^\/queues$/, pageQueues, 'queues'],
  [/^\/queues\/([^/]+)\/([^/]+)$/, pageQueue, 'queues'],
  [/^\/admin(?:\/(\w+))?$/, pageAdmin, 'admin'],
];

function route() {
  if (!auth()) return showLogin();
  clearInterval(timer);
  timer = null;
  const gen = ++pageGen;
  const path = location.hash.replace(/^#/, '') || '/';
  for (const [re, fn, tab] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    document.querySelectorAll('#nav a').forEach(a => a.classList.toggle('active', a.dataset.tab === tab));
    const args = m.slice(1).map(s => (s === undefined ? s : decodeURIComponent(s)));
    fn(gen, ...args);
    return;
  }
  put(main(), h('p', null, 'No such page. ', h('a', { href: '#/' }, 'Overview')));
}

// Call update now and again at the chosen refresh period, while the page is current.
function every(gen, update) {
  const run = async () => {
    if (gen !== pageGen) return;
    try { await update(); } catch (e) { if (auth()) flash(e.message, true); }
  };
  run();
  const secs = +$('#refresh').value;
  if (secs) timer = setInterval(run, secs * 1000);
}

/* ---------- charts (canvas) ---------- */

const COLORS = ['#c0701e', '#3a7abf', '#6a9a3a', '#a12a1d', '#7a4ab0', '#2a9a8a', '#888'];

// series: [{label, points: [[t_ms, v], ...]}]; draws a line chart of the last `span` ms.
function drawChart(box, series, opts) {
  opts = opts || {};
  let canvas = box.querySelector('canvas');
  if (!canvas) {
    canvas = h('canvas');
    put(box, canvas, h('div.legend'));
  }
  const legend = box.querySelector('.legend');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400, ht = canvas.clientHeight || 180;
  canvas.width = w * dpr; canvas.height = ht * dpr;
  const c = canvas.getContext('2d');
  c.scale(dpr, dpr);
  c.clearRect(0, 0, w, ht);
  const now = Date.now(), span = opts.span || 600000;
  let tmin = now - span, tmax = now, vmax = 0;
  series.forEach(s => s.points.forEach(p => { if (p[1] > vmax) vmax = p[1]; if (p[0] > tmax) tmax = p[0]; }));
  tmin = tmax - span;
  vmax = niceMax(vmax);
  const L = 56, R = 8, T = 8, B = 20, pw = w - L - R, ph = ht - T - B;
  const x = t => L + (t - tmin) / (tmax - tmin) * pw, y = v => T + ph - v / vmax * ph;
  c.font = '11px system-ui, sans-serif'; c.fillStyle = '#666'; c.strokeStyle = '#e6e2da'; c.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = vmax * i / 4, yy = Math.round(y(v)) + 0.5;
    c.beginPath(); c.moveTo(L, yy); c.lineTo(L + pw, yy); c.stroke();
    c.textAlign = 'right'; c.textBaseline = 'middle';
    c.fillText(fmtNum(Math.round(v * 100) / 100) + (opts.unit || ''), L - 4, yy);
  }
  c.textAlign = 'center'; c.textBaseline = 'top';
  for (let i = 0; i <= 5; i++) {
    const t = tmin + (tmax - tmin) * i / 5;
    c.textAlign = i === 5 ? 'right' : 'center';
    c.fillText(i === 5 ? 'now' : '-' + Math.round((tmax - t) / 60000 * 10) / 10 + ' min', x(t), T + ph + 4);
  }
  put(legend);
  // The first series (publish, total) is drawn last, on top of equal ones (confirm, ready).
  series.map((s, i) => [s, i]).reverse().forEach(([s, i]) => {
    const col = COLORS[i % COLORS.length];
    const pts = s.points.filter(p => p[0] >= tmin).sort((a, b) => a[0] - b[0]);
    c.strokeStyle = col; c.lineWidth = 1.5; c.beginPath();
    pts.forEach((p, j) => (j ? c.lineTo(x(p[0]), y(p[1])) : c.moveTo(x(p[0]), y(p[1]))));
    c.stroke();
    if (pts.length === 1) { c.fillStyle = col; c.fillRect(x(pts[0][0]) - 2, y(pts[0][1]) - 2, 4, 4); }
    const last = pts.length ? pts[pts.length - 1][1] : undefined;
    legend.insertBefore(h('span', null, h('i', { style: 'background:' + col }), s.label + ' ', h('b', null, last === undefined ? '–' : fmtNum(Math.round(last * 10) / 10) + (opts.unit || ''))), legend.firstChild);
  });
  if (!series.some(s => s.points.length)) {
    c.fillStyle = '#999'; c.textAlign = 'center'; c.textBaseline = 'middle'; c.fillText('no data yet', L + pw / 2, T + ph / 2);
  }
}
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v))), f = v / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

// A chart's series from an object's "X_details" fields. With samples (newest
// first), lengths are the samples themselves and rates come from differences
// of the cumulative counts; without them, from values remembered at each poll.
function seriesFrom(obj, fields, kind, memory) {
  const now = Date.now();
  return fields.map(([key, label]) => {
    const d = stat(obj, key + '_details');
    let pts = [];
    if (d && Array.isArray(d.samples) && d.samples.length > 1) {
      const s = d.samples.slice().sort((a, b) => a.timestamp - b.timestamp);
      if (kind === 'rate') {
        for (let i = 1; i < s.length; i++) {
          const dt = (s[i].timestamp - s[i - 1].timestamp) / 1000;
          if (dt > 0) pts.push([s[i].timestamp, Math.max(0, (s[i].sample - s[i - 1].sample) / dt)]);
        }
      } else pts = s.map(x => [x.timestamp, x.sample]);
    } else {
      const v = kind === 'rate' ? (d && d.rate) : stat(obj, key);
      const mem = memory[key] = memory[key] || [];
      if (typeof v === 'number') mem.push([now, v]);
      while (mem.length && mem[0][0] < now - 600000) mem.shift();
      pts = mem.slice();
    }
    return { label, points: pts };
  });
}

// Values remembered at each poll, per object, for charts whose API object has no
// samples; kept across page visits (at most the last 50 objects).
const chartMemories = new Map();
function chartMemory(key) {
  let m = chartMemories.get(key);
  if (!m) {
    m = {};
    chartMemories.set(key, m);
    if (chartMemories.size > 50) chartMemories.delete(chartMemories.keys().next().value);
  }
  return m;
}

const RATE_FIELDS = [['message_stats.publish', 'Publish'], ['message_stats.deliver_get', 'Deliver / get'],
  ['message_stats.ack', 'Ack'], ['message_stats.redeliver', 'Redeliver'], ['message_stats.confirm', 'Confirm']];
const QRATE_FIELDS = [['message_stats.publish', 'Publish'], ['message_stats.deliver_get', 'Deliver / get'],
  ['message_stats.ack', 'Ack'], ['message_stats.redeliver', 'Redeliver']];
const SAMPLE_Q = 'lengths_age=600&lengths_incr=5&msg_rates_age=600&msg_rates_incr=5';

/* ---------- small widgets ---------- */

// A key/value/type editor for AMQP arguments, headers and policy definitions.
function argsEditor(name, presets) {
  const box = h('div.args', { 'data-args': name });
  const addRow = (k, v, t) => {
    const row = h('div.arg', null,
      h('input', { type: 'text', placeholder: 'key', value: k || '', class: 'arg-key' }),
      h('input', { type: 'text', placeholder: 'value', value: v || '', class: 'arg-value' }),
      h('select', { class: 'arg-type' }, ['String', 'Number', 'Boolean', 'List'].map(x => h('option', { value: x.toLowerCase(), selected: t === x.toLowerCase() }, x))));
    box.insertBefore(row, box.lastChild);
    return row;
  };
  box.appendChild(h('div', null,
    h('button.small.secondary', { type: 'button', onclick: () => addRow() }, '+ argument'),
    presets && presets.length ? [' ', h('span.muted', null, 'add: '), presets.map(p =>
      h('button.small.secondary', { type: 'button', onclick: () => addRow(p[0], '', p[1]) }, p[0]))] : null));
  addRow();
  box.read = () => {
    const out = {};
    box.querySelectorAll('.arg').forEach(r => {
      const k = r.querySelector('.arg-key').value.trim(), raw = r.querySelector('.arg-value').value, t = r.querySelector('.arg-type').value;
      if (!k) return;
      let v = raw;
      if (t === 'number') { v = Number(raw); if (raw.trim() === '' || isNaN(v)) throw new Error('argument ' + k + ': not a number'); }
      else if (t === 'boolean') v = /^(true|1|yes)$/i.test(raw.trim());
      else if (t === 'list') v = raw.split(',').map(s => s.trim()).filter(Boolean);
      out[k] = v;
    });
    return out;
  };
  return box;
}

function vhostSelect(list, name, withAll, value) {
  return h('select', { name }, withAll ? h('option', { value: '' }, 'All virtual hosts') : null,
    list.map(v => h('option', { value: v, selected: v === value }, v)));
}

function fields(form) {
  const o = {};
  form.querySelectorAll('[name]').forEach(el => { o[el.name] = el.type === 'checkbox' ? el.checked : el.value; });
  return o;
}

function table(cols, rows, empty) {
  if (!rows.length) return h('p.muted', null, empty || 'Nothing here.');
  return h('table', null,
    h('thead', null, h('tr', null, cols.map(c => h('th' + (c.num ? '.num' : ''), null, c.title)))),
    h('tbody', null, rows.map(r => h('tr', null, cols.map(c => h('td' + (c.num ? '.num' : ''), null, c.cell(r)))))));
}

function confirmBtn(label, question, fn, cls) {
  return h('button.small' + (cls || '.danger'), { type: 'button', onclick: () => { if (confirm(question)) fn(); } }, label);
}

// A paged, filtered list: state in the hash's query would be nicer; kept in memory per page.
const listState = {};
function pagedList(gen, key, opts) {
  const st = listState[key] = listState[key] || { page: 1, name: '', regex: false, vhost: '' };
  const filter = h('input', { type: 'text', placeholder: 'Filter by name', value: st.name, 'data-filter': key });
  const regex = h('input', { type: 'checkbox', checked: st.regex });
  const info = h('span.muted');
  const prev = h('button.small.secondary', { type: 'button', onclick: () => { st.page--; upd(); } }, '‹ prev');
  const next = h('button.small.secondary', { type: 'button', onclick: () => { st.page++; upd(); } }, 'next ›');
  const body = h('div');
  const bar = h('div.pager', null, filter, h('label.check', null, regex, ' regex'), prev, info, next);
  let vsel = null;
  if (opts.vhostFilter) {
    vhosts().then(list => {
      vsel = vhostSelect(list, 'vhost-filter', true, st.vhost);
      vsel.addEventListener('change', () => { st.vhost = vsel.value; st.page = 1; upd(); });
      bar.insertBefore(vsel, bar.firstChild);
    }).catch(() => {});
  }
  let tmo;
  filter.addEventListener('input', () => { clearTimeout(tmo); tmo = setTimeout(() => { st.name = filter.value; st.page = 1; upd(); }, 250); });
  regex.addEventListener('change', () => { st.regex = regex.checked; st.page = 1; upd(); });
  async function upd() {
    const q = 'page=' + st.page + '&page_size=' + PAGE_SIZE + '&name=' + enc(st.name) + '&use_regex=' + st.regex +
      (opts.query ? '&' + opts.query : '');
    let r;
    try {
      r = await get(opts.path + (st.vhost ? '/' + enc(st.vhost) : '') + '?' + q);
    } catch (e) {
      if (e.status === 400 && st.page > 1) { st.page = 1; return upd(); } // page out of range after deletions
      throw e;
    }
    if (gen !== pageGen) return;
    const items = Array.isArray(r) ? r : r.items || [];
    const pc = r.page_count || 1;
    if (st.page > pc) st.page = pc;
    prev.disabled = st.page <= 1; next.disabled = st.page >= pc;
    info.textContent = 'page ' + st.page + ' of ' + pc + ' · ' + fmtNum(r.filtered_count !== undefined ? r.filtered_count : items.length) +
      ' matching of ' + fmtNum(r.total_count !== undefined ? r.total_count : items.length);
    put(body, opts.render ? opts.render(items) : table(opts.cols, items, opts.empty));
  }
  return { el: h('div', null, bar, body), update: upd };
}

/* ---------- overview ---------- */

function pageOverview(gen) {
  const memory = chartMemory('overview');
  const totals = h('div.totals');
  const rateChart = h('div.chart#chart-rates'), lenChart = h('div.chart#chart-lengths');
  const nodes = h('div'), listeners = h('div'), alarms = h('div');
  put(main(), h('h1', null, 'Overview'), totals,
    h('div.row', null,
      h('div.box', null, h('h3', null, 'Queued messages (last ten minutes)'), lenChart),
      h('div.box', null, h('h3', null, 'Message rates (last ten minutes)'), rateChart)),
    h('div.row', null, h('div.box', null, h('h3', null, 'Alarms'), alarms), h('div.box', null, h('h3', null, 'Listeners'), listeners)),
    h('div.box', null, h('h3', null, 'Nodes'), nodes));
  every(gen, async () => {
    const [o, ns] = await Promise.all([get('/overview?' + SAMPLE_Q), get('/nodes').catch(() => [])]);
    if (gen !== pageGen) return;
    const ot = o.object_totals || {}, qt = o.queue_totals || {}, ms = o.message_stats || {};
    const t = (label, v) => h('div.total', null, h('b', null, v === undefined ? '–' : v), h('span', null, label));
    put(totals, 
      t('Connections', fmtNum(ot.connections)), t('Channels', fmtNum(ot.channels)), t('Exchanges', fmtNum(ot.exchanges)),
      t('Queues', fmtNum(ot.queues)), t('Consumers', fmtNum(ot.consumers)),
      t('Messages', fmtNum(qt.messages)), t('Ready', fmtNum(qt.messages_ready)), t('Unacked', fmtNum(qt.messages_unacknowledged)),
      t('Publish', fmtRate(ms.publish_details) || '0/s'), t('Deliver', fmtRate(ms.deliver_get_details) || '0/s'));
    drawChart(lenChart, seriesFrom(o, [['queue_totals.messages', 'Total'], ['queue_totals.messages_ready', 'Ready'],
      ['queue_totals.messages_unacknowledged', 'Unacked']], 'length', memory));
    drawChart(rateChart, seriesFrom(o, RATE_FIELDS, 'rate', memory), { unit: '/s' });
    put(listeners, table([
      { title: 'Protocol', cell: l => l.protocol }, { title: 'Node', cell: l => l.node },
      { title: 'Bound to', cell: l => l.ip_address }, { title: 'Port', num: true, cell: l => l.port }], o.listeners || [], 'No listeners reported.'));
    const al = [];
    ns.forEach(n => {
      if (n.mem_alarm) al.push(n.name + ': memory alarm (publishers blocked)');
      if (n.disk_free_alarm) al.push(n.name + ': disk alarm (publishers blocked)');
    });
    put(alarms, al.length ? h('ul', null, al.map(a => h('li', null, h('span.pill.bad', null, 'alarm'), ' ', a)))
      : h('p', null, h('span.pill.ok', null, 'none'), ' No memory or disk alarm.'));
    const bar = (used, limit, bad) => h('span', null, h('span.bar' + (bad ? '.bad' : ''), null,
      h('i', { style: 'width:' + Math.min(100, limit ? used / limit * 100 : 0) + '%' })), ' ');
    put(nodes, table([
      { title: 'Name', cell: n => n.name },
      { title: 'Running', cell: n => (n.running === false ? h('span.pill.bad', null, 'down') : h('span.pill.ok', null, 'running')) },
      { title: 'Memory', cell: n => [bar(n.mem_used, n.mem_limit, n.mem_alarm), fmtBytes(n.mem_used) + ' of ' + fmtBytes(n.mem_limit) + ' limit'] },
      { title: 'Disk free', cell: n => [fmtBytes(n.disk_free), ' (limit ', fmtBytes(n.disk_free_limit), ')', n.disk_free_alarm ? [' ', h('span.pill.bad', null, 'alarm')] : ''] },
      { title: 'File descriptors', num: true, cell: n => (n.fd_used !== undefined ? fmtNum(n.fd_used) + ' / ' + fmtNum(n.fd_total) : '') },
      { title: 'Uptime', num: true, cell: n => (n.uptime ? Math.round(n.uptime / 60000) + ' min' : '') }], ns, 'No node information.'));
  });
}

/* ---------- connections and channels ---------- */

function closeConn(name) {
  return act('Connection closed', () => api('DELETE', '/connections/' + enc(name), undefined, { 'X-Reason': 'Closed via management UI' }),
    () => (location.hash === '#/connections' ? route() : (location.hash = '#/connections')));
}

function pageConnections(gen) {
  const list = pagedList(gen, 'connections', {
    path: '/connections', vhostFilter: false, empty: 'No connections.',
    cols: [
      { title: 'Name', cell: c => h('a', { href: '#/connections/' + enc(c.name) }, c.name) },
      { title: 'User', cell: c => c.user }, { title: 'Virtual host', cell: c => c.vhost },
      { title: 'Client', cell: c => { const p = c.client_properties || {}; return [p.product, p.version].filter(Boolean).join(' '); } },
      { title: 'State', cell: c => c.state }, { title: 'Channels', num: true, cell: c => c.channels },
      { title: 'From client', num: true, cell: c => fmtRate(c.recv_oct_details).replace('/s', ' B/s') },
      { title: 'To client', num: true, cell: c => fmtRate(c.send_oct_details).replace('/s', ' B/s') },
      { title: '', cell: c => confirmBtn('Close', 'Close connection ' + c.name + '?', () => closeConn(c.name)) }],
  });
  put(main(), h('h1', null, 'Connections'), list.el);
  every(gen, list.update);
}

function pageConnection(gen, name) {
  const info = h('div'), chans = h('div');
  put(main(), h('h1', null, 'Connection ', name),
    h('p', null, confirmBtn('Close this connection', 'Close connection ' + name + '?', () => closeConn(name))),
    h('div.box', null, info), h('h2', null, 'Channels'), chans);
  every(gen, async () => {
    const [c, ch] = await Promise.all([get('/connections/' + enc(name)), get('/connections/' + enc(name) + '/channels').catch(() => [])]);
    if (gen !== pageGen) return;
    const kv = [['User', c.user], ['Virtual host', c.vhost], ['State', c.state], ['Protocol', c.protocol],
      ['Peer', (c.peer_host || '') + ':' + (c.peer_port || '')], ['Channels', c.channels], ['Frame max', c.frame_max], ['Heartbeat', c.timeout],
      ['Client', JSON.stringify(c.client_properties || {})]];
    put(info, h('dl.kv', null, kv.map(([k, v]) => [h('dt', null, k), h('dd', null, v === undefined ? '' : String(v))])));
    put(chans, channelTable(ch));
  });
}

function channelTable(rows) {
  return table([
    { title: 'Channel', cell: c => c.name }, { title: 'User', cell: c => c.user }, { title: 'Virtual host', cell: c => c.vhost },
    { title: 'Mode', cell: c => [c.confirm ? 'confirm' : '', c.transactional ? 'tx' : ''].filter(Boolean).join(' ') },
    { title: 'Prefetch', num: true, cell: c => c.prefetch_count }, { title: 'Consumers', num: true, cell: c => c.consumer_count },
    { title: 'Unacked', num: true, cell: c => c.messages_unacknowledged }, { title: 'State', cell: c => c.state },
    { title: 'Publish', num: true, cell: c => fmtRate(stat(c, 'message_stats.publish_details')) },
    { title: 'Deliver', num: true, cell: c => fmtRate(stat(c, 'message_stats.deliver_get_details')) }], rows, 'No channels.');
}

function pageChannels(gen) {
  const list = pagedList(gen, 'channels', { path: '/channels', render: channelTable });
  put(main(), h('h1', null, 'Channels'), list.el);
  every(gen, list.update);
}

/* ---------- exchanges ---------- */

async function pageExchanges(gen) {
  const vl = await vhosts(true);
  if (gen !== pageGen) return;
  const list = pagedList(gen, 'exchanges', {
    path: '/exchanges', vhostFilter: true, empty: 'No exchanges.',
    cols: [
      { title: 'Virtual host', cell: x => x.vhost },
      { title: 'Name', cell: x => h('a', { href: '#/exchanges/' + enc(x.vhost) + '/' + enc(x.name) }, x.name || '(AMQP default)') },
      { title: 'Type', cell: x => x.type },
      { title: 'Features', cell: x => [x.durable ? h('span.pill', { title: 'durable' }, 'D') : null, x.auto_delete ? h('span.pill', { title: 'auto-delete' }, 'AD') : null,
        x.internal ? h('span.pill', { title: 'internal' }, 'I') : null, Object.keys(x.arguments || {}).length ? h('span.pill', { title: JSON.stringify(x.arguments) }, 'Args') : null,
        x.policy ? h('span.pill', { title: 'policy' }, x.policy) : null] },
      { title: 'Rate in', num: true, cell: x => fmtRate(stat(x, 'message_stats.publish_in_details')) },
      { title: 'Rate out', num: true, cell: x => fmtRate(stat(x, 'message_stats.publish_out_details')) }],
  });
  const args = argsEditor('exchange-args', [['alternate-exchange', 'string']]);
  const form = h('form.inline#declare-exchange', { onsubmit: e => {
    e.preventDefault();
    const f = fields(form);
    let a; try { a = args.read(); } catch (ex) { return flash(ex.message, true); }
    act('Exchange ' + f.name + ' declared', () => api('PUT', '/exchanges/' + enc(f.vhost) + '/' + enc(f.name),
      { type: f.type, durable: f.durable, auto_delete: f.auto_delete, internal: f.internal, arguments: a }));
  } },
  h('label', null, 'Virtual host', vhostSelect(vl, 'vhost', false, listState.exchanges && listState.exchanges.vhost || vl[0])),
  h('label', null, 'Name', h('input', { type: 'text', name: 'name', required: true })),
  h('label', null, 'Type', h('select', { name: 'type' }, ['direct', 'fanout', 'topic', 'headers'].map(t => h('option', null, t)))),
  h('label.check', null, h('input', { type: 'checkbox', name: 'durable', checked: true }), 'durable'),
  h('label.check', null, h('input', { type: 'checkbox', name: 'auto_delete' }), 'auto-delete'),
  h('label.check', null, h('input', { type: 'checkbox', name: 'internal' }), 'internal'),
  h('label', null, 'Arguments', args), h('button', { type: 'submit' }, 'Add exchange'));
  put(main(), h('h1', null, 'Exchanges'), list.el, h('h2', null, 'Add a new exchange'), h('div.box', null, form));
  every(gen, list.update);
}

function bindingTable(rows, side) {
  return table([
    { title: side === 'source' ? 'To' : 'From', cell: b => (side === 'source'
      ? [h('span.pill', null, b.destination_type), ' ', h('a', { href: '#/' + (b.destination_type === 'queue' ? 'queues' : 'exchanges') + '/' + enc(b.vhost) + '/' + enc(b.destination) }, b.destination)]
      : h('a', { href: '#/exchanges/' + enc(b.vhost) + '/' + enc(b.source) }, b.source || '(AMQP default)')) },
    { title: 'Routing key', cell: b => b.routing_key },
    { title: 'Arguments', cell: b => (Object.keys(b.arguments || {}).length ? JSON.stringify(b.arguments) : '') },
    { title: '', cell: b => (b.source === '' ? h('span.muted', null, 'default binding') : h('button.small.secondary', { type: 'button', onclick: () => unbind(b) }, 'Unbind')) }],
  rows, 'No bindings.');
}

function unbind(b) {
  const path = '/bindings/' + enc(b.vhost) + '/e/' + enc(b.source) + '/' + (b.destination_type === 'queue' ? 'q' : 'e') + '/' + enc(b.destination) + '/' + enc(b.properties_key);
  return act('Binding removed', () => api('DELETE', path));
}

// A form adding a binding; fixed = {side: 'source'|'destination', vhost, name}.
function bindForm(fixed) {
  const args = argsEditor('binding-args');
  const form = h('form.inline.bind-form', { onsubmit: e => {
    e.preventDefault();
    const f = fields(form);
    let a; try { a = args.read(); } catch (ex) { return flash(ex.message, true); }
    const path = fixed.side === 'source'
      ? '/bindings/' + enc(fixed.vhost) + '/e/' + enc(fixed.name) + '/' + f.dtype + '/' + enc(f.other)
      : '/bindings/' + enc(fixed.vhost) + '/e/' + enc(f.other) + '/q/' + enc(fixed.name);
    act('Binding added', () => api('POST', path, { routing_key: f.routing_key, arguments: a }));
  } },
  fixed.side === 'source'
    ? [h('label', null, 'To', h('select', { name: 'dtype' }, h('option', { value: 'q' }, 'queue'), h('option', { value: 'e' }, 'exchange'))),
      h('label', null, 'Name', h('input', { type: 'text', name: 'other', required: true }))]
    : h('label', null, 'From exchange', h('input', { type: 'text', name: 'other', required: true })),
  h('label', null, 'Routing key', h('input', { type: 'text', name: 'routing_key' })),
  h('label', null, 'Arguments', args), h('button', { type: 'submit' }, 'Bind'));
  return form;
}

async function pageExchange(gen, vhost, name) {
  const base = '/exchanges/' + enc(vhost) + '/' + enc(name || 'amq.default'); // the API's name for the default exchange
  const info = h('div'), chart = h('div.chart#chart-exchange'), src = h('div'), dst = h('div'), pubResult = h('p.muted#publish-result');
  const memory = chartMemory(base);
  const headers = argsEditor('headers');
  const props = argsEditor('properties', [['content_type', 'string'], ['correlation_id', 'string'], ['reply_to', 'string'], ['expiration', 'string'], ['message_id', 'string'], ['priority', 'number']]);
  const pub = h('form#publish', { onsubmit: e => {
    e.preventDefault();
    const f = fields(pub);
    let hd, pr; try { hd = headers.read(); pr = props.read(); } catch (ex) { return flash(ex.message, true); }
    pr.delivery_mode = +f.delivery_mode;
    if (Object.keys(hd).length) pr.headers = hd;
    act('Message published', () => api('POST', base + '/publish',
      { properties: pr, routing_key: f.routing_key, payload: f.payload, payload_encoding: f.payload_encoding }),
    r => { pubResult.textContent = r && r.routed ? 'Message published and routed.' : 'Message published, but not routed.'; });
  } },
  h('div.row', null,
    h('label', null, 'Routing key', h('input', { type: 'text', name: 'routing_key' })),
    h('label', null, 'Delivery mode', h('select', { name: 'delivery_mode' }, h('option', { value: '1' }, '1 - non-persistent'), h('option', { value: '2' }, '2 - persistent'))),
    h('label', null, 'Payload encoding', h('select', { name: 'payload_encoding' }, h('option', { value: 'string' }, 'string'), h('option', { value: 'base64' }, 'base64')))),
  h('div.row', null, h('label', null, 'Headers', headers), h('label', null, 'Properties', props)),
  h('label', null, 'Payload', h('textarea', { name: 'payload' })),
  h('p', null, h('button', { type: 'submit' }, 'Publish message')), pubResult);
  const isDefault = name === '';
  put(main(), h('h1', null, 'Exchange ', h('b', null, name || '(AMQP default)'), h('span.muted', null, ' in virtual host ' + vhost)),
    h('div.row', null, h('div.box', null, info), h('div.box', null, h('h3', null, 'Message rates'), chart)),
    h('h2', null, 'Bindings from this exchange'), src, isDefault ? null : h('div.box', null, bindForm({ side: 'source', vhost, name })),
    h('h2', null, 'Bindings to this exchange'), dst,
    h('h2', null, 'Publish message'), h('div.box', null, pub),
    isDefault || name.startsWith('amq.') ? null : [h('h2', null, 'Delete this exchange'),
      h('p', null, confirmBtn('Delete', 'Delete exchange ' + name + '?', () => act('Exchange deleted', () => api('DELETE', base), () => { location.hash = '#/exchanges'; })))]);
  every(gen, async () => {
    const [x, bs, bd] = await Promise.all([get(base + '?' + SAMPLE_Q), isDefault ? [] : get(base + '/bindings/source'), get(base + '/bindings/destination')]);
    if (gen !== pageGen) return;
    const kv = [['Type', x.type], ['Durable', x.durable], ['Auto-delete', x.auto_delete], ['Internal', x.internal],
      ['Arguments', JSON.stringify(x.arguments || {})], ['Policy', x.policy || '']];
    put(info, h('dl.kv', null, kv.map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))])));
    drawChart(chart, seriesFrom(x, [['message_stats.publish_in', 'Publish in'], ['message_stats.publish_out', 'Publish out']], 'rate', memory), { unit: '/s' });
    put(src, bindingTable(bs, 'source'));
    put(dst, bindingTable(bd, 'destination'));
  });
}

/* ---------- queues ---------- */

async function pageQueues(gen) {
  const vl = await vhosts(true);
  if (gen !== pageGen) return;
  const list = pagedList(gen, 'queues', {
    path: '/queues', vhostFilter: true, empty: 'No queues.',
    cols: [
      { title: 'Virtual host', cell: q => q.vhost },
      { title: 'Name', cell: q => h('a', { href: '#/queues/' + enc(q.vhost) + '/' + enc(q.name) }, q.name) },
      { title: 'Type', cell: q => q.type },
      { title: 'Features', cell: q => [q.durable ? h('span.pill', { title: 'durable' }, 'D') : null, q.auto_delete ? h('span.pill', { title: 'auto-delete' }, 'AD') : null,
        q.exclusive ? h('span.pill', { title: 'exclusive' }, 'Excl') : null,
        Object.keys(q.arguments || {}).map(k => h('span.pill', { title: k + ': ' + JSON.stringify(q.arguments[k]) }, k.replace(/^x-/, ''))),
        q.policy ? h('span.pill', { title: 'policy' }, 'policy ' + q.policy) : null] },
      { title: 'State', cell: q => q.state },
      { title: 'Ready', num: true, cell: q => fmtNum(q.messages_ready) }, { title: 'Unacked', num: true, cell: q => fmtNum(q.messages_unacknowledged) },
      { title: 'Total', num: true, cell: q => fmtNum(q.messages) }, { title: 'Consumers', num: true, cell: q => fmtNum(q.consumers) },
      { title: 'Incoming', num: true, cell: q => fmtRate(stat(q, 'message_stats.publish_details')) },
      { title: 'Deliver / get', num: true, cell: q => fmtRate(stat(q, 'message_stats.deliver_get_details')) },
      { title: 'Ack', num: true, cell: q => fmtRate(stat(q, 'message_stats.ack_details')) }],
  });
  const args = argsEditor('queue-args', [['x-message-ttl', 'number'], ['x-expires', 'number'], ['x-max-length', 'number'], ['x-max-length-bytes', 'number'],
    ['x-overflow', 'string'], ['x-dead-letter-exchange', 'string'], ['x-dead-letter-routing-key', 'string'], ['x-max-priority', 'number'], ['x-queue-mode', 'string']]);
  const form = h('form.inline#declare-queue', { onsubmit: e => {
    e.preventDefault();
    const f = fields(form);
    let a; try { a = args.read(); } catch (ex) { return flash(ex.message, true); }
    if (f.type !== 'classic') a['x-queue-type'] = f.type;
    act('Queue ' + f.name + ' declared', () => api('PUT', '/queues/' + enc(f.vhost) + '/' + enc(f.name),
      { durable: f.durable, auto_delete: f.auto_delete, arguments: a }));
  } },
  h('label', null, 'Virtual host', vhostSelect(vl, 'vhost', false, listState.queues && listState.queues.vhost || vl[0])),
  h('label', null, 'Type', h('select', { name: 'type' }, ['classic', 'quorum', 'stream'].map(t => h('option', null, t)))),
  h('label', null, 'Name', h('input', { type: 'text', name: 'name', required: true })),
  h('label.check', null, h('input', { type: 'checkbox', name: 'durable', checked: true }), 'durable'),
  h('label.check', null, h('input', { type: 'checkbox', name: 'auto_delete' }), 'auto-delete'),
  h('label', null, 'Arguments', args), h('button', { type: 'submit' }, 'Add queue'));
  put(main(), h('h1', null, 'Queues'), list.el, h('h2', null, 'Add a new queue'), h('div.box', null, form));
  every(gen, list.update);
}

function pageQueue(gen, vhost, name) {
  const base = '/queues/' + enc(vhost) + '/' + enc(name);
  const info = h('div'), rateChart = h('div.chart#chart-queue-rates'), lenChart = h('div.chart#chart-queue-lengths');
  const cons = h('div'), binds = h('div'), got = h('div#get-result');
  const memory = chartMemory(base);
  const getForm = h('form.inline#get-messages', { onsubmit: e => {
    e.preventDefault();
    const f = fields(getForm);
    act('Got messages', () => api('POST', base + '/get', { count: +f.count, ackmode: f.ackmode, encoding: f.encoding, truncate: +f.truncate || undefined }),
      msgs => {
        put(got, msgs && msgs.length ? msgs.map((m, i) => h('div.box.message', null,
          h('h3', null, 'Message ' + (i + 1)),
          h('dl.kv', null, [['Exchange', m.exchange], ['Routing key', m.routing_key], ['Redelivered', m.redelivered],
            ['Remaining', m.message_count], ['Properties', JSON.stringify(m.properties || {})], ['Payload bytes', m.payload_bytes],
            ['Encoding', m.payload_encoding]].map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))])),
          h('pre.payload', null, m.payload))) : h('p.muted', null, 'Queue is empty.'));
        refreshNow();
      });
  } },
  h('label', null, 'Ack mode', h('select', { name: 'ackmode' },
    h('option', { value: 'ack_requeue_true' }, 'Nack message requeue true'), h('option', { value: 'ack_requeue_false' }, 'Automatic ack'),
    h('option', { value: 'reject_requeue_true' }, 'Reject requeue true'), h('option', { value: 'reject_requeue_false' }, 'Reject requeue false'))),
  h('label', null, 'Encoding', h('select', { name: 'encoding' }, h('option', { value: 'auto' }, 'Auto string / base64'), h('option', { value: 'base64' }, 'base64'))),
  h('label', null, 'Messages', h('input', { type: 'number', name: 'count', value: '1', min: '1', style: 'width:70px' })),
  h('label', null, 'Truncate (bytes)', h('input', { type: 'number', name: 'truncate', value: '50000', style: 'width:90px' })),
  h('button', { type: 'submit' }, 'Get message(s)'));
  put(main(), h('h1', null, 'Queue ', h('b', null, name), h('span.muted', null, ' in virtual host ' + vhost)),
    h('div.row', null, h('div.box', null, info),
      h('div.box', null, h('h3', null, 'Queued messages'), lenChart), h('div.box', null, h('h3', null, 'Message rates'), rateChart)),
    h('h2', null, 'Consumers'), cons,
    h('h2', null, 'Bindings'), binds, h('div.box', null, bindForm({ side: 'destination', vhost, name })),
    h('h2', null, 'Get messages'), h('div.box', null, h('p.muted', null, 'Getting messages is destructive with automatic ack; otherwise they are requeued.'), getForm, got),
    h('h2', null, 'Purge and delete'),
    h('p', null, confirmBtn('Purge messages', 'Purge all messages of queue ' + name + '?', () => act('Queue purged', () => api('DELETE', base + '/contents')), '.secondary'), ' ',
      confirmBtn('Delete queue', 'Delete queue ' + name + '?', () => act('Queue deleted', () => api('DELETE', base), () => { location.hash = '#/queues'; }))));
  let refreshNow = () => {};
  const upd = async () => {
    const [q, b] = await Promise.all([get(base + '?' + SAMPLE_Q), get(base + '/bindings')]);
    if (gen !== pageGen) return;
    const kv = [['Type', q.type], ['State', q.state], ['Durable', q.durable], ['Auto-delete', q.auto_delete], ['Exclusive', q.exclusive],
      ['Arguments', JSON.stringify(q.arguments || {})], ['Policy', q.policy || ''], ['Effective policy', JSON.stringify(q.effective_policy_definition || {})],
      ['Messages', fmtNum(q.messages)], ['Ready', fmtNum(q.messages_ready)], ['Unacked', fmtNum(q.messages_unacknowledged)],
      ['Consumers', fmtNum(q.consumers)], ['Memory', fmtBytes(q.memory)]];
    put(info, h('dl.kv#queue-info', null, kv.map(([k, v]) => [h('dt', null, k), h('dd', { 'data-k': k }, v === undefined ? '' : String(v))])));
    drawChart(lenChart, seriesFrom(q, [['messages', 'Total'], ['messages_ready', 'Ready'], ['messages_unacknowledged', 'Unacked']], 'length', memory));
    drawChart(rateChart, seriesFrom(q, QRATE_FIELDS, 'rate', memory), { unit: '/s' });
    put(cons, table([
      { title: 'Channel', cell: c => stat(c, 'channel_details.name') }, { title: 'Consumer tag', cell: c => c.consumer_tag },
      { title: 'Ack required', cell: c => String(c.ack_required) }, { title: 'Exclusive', cell: c => String(c.exclusive) },
      { title: 'Prefetch', num: true, cell: c => c.prefetch_count }], q.consumer_details || [], 'No consumers.'));
    put(binds, bindingTable(b, 'destination'));
  };
  refreshNow = () => upd().catch(() => {});
  every(gen, upd);
}

/* ---------- admin: users, vhosts, permissions, policies, definitions ---------- */

function pageAdmin(gen, sub) {
  sub = sub || 'users';
  const tabs = [['users', 'Users'], ['vhosts', 'Virtual hosts'], ['permissions', 'Permissions'], ['policies', 'Policies'], ['definitions', 'Definitions']];
  const body = h('div');
  put(main(), h('h1', null, 'Admin'),
    h('div.subnav', null, tabs.map(([k, t]) => h('a' + (k === sub ? '.active' : ''), { href: '#/admin/' + k }, t))), body);
  const f = { users: adminUsers, vhosts: adminVhosts, permissions: adminPermissions, policies: adminPolicies, definitions: adminDefinitions }[sub];
  if (f) f(gen, body); else put(body, h('p', null, 'No such page.'));
}

function adminUsers(gen, body) {
  const list = h('div');
  const form = h('form.inline#add-user', { onsubmit: e => {
    e.preventDefault();
    const f = fields(form);
    act('User ' + f.name + ' saved', () => api('PUT', '/users/' + enc(f.name), { password: f.password, tags: f.tags }));
  } },
  h('label', null, 'Name', h('input', { type: 'text', name: 'name', required: true })),
  h('label', null, 'Password', h('input', { type: 'password', name: 'password', required: true, autocomplete: 'new-password' })),
  h('label', null, 'Tags (comma-separated)', h('input', { type: 'text', name: 'tags', placeholder: 'administrator, management, monitoring, policymaker' })),
  h('button', { type: 'submit' }, 'Add / update user'));
  put(body, h('h2', null, 'Users'), list, h('h2', null, 'Add a user'), h('div.box', null, form));
  every(gen, async () => {
    const users = await get('/users');
    if (gen !== pageGen) return;
    put(list, table([
      { title: 'Name', cell: u => u.name },
      { title: 'Tags', cell: u => [].concat(u.tags || []).map(t => h('span.pill', null, t)) },
      { title: '', cell: u => [
        h('button.small.secondary', { type: 'button', onclick: () => {
          const t = prompt('Tags for ' + u.name + ' (comma-separated):', [].concat(u.tags || []).join(','));
          if (t !== null) act('Tags of ' + u.name + ' set', () => api('PUT', '/users/' + enc(u.name), { password_hash: u.password_hash, hashing_algorithm: u.hashing_algorithm, tags: t }));
        } }, 'Set tags'), ' ',
        confirmBtn('Delete', 'Delete user ' + u.name + '?', () => act('User ' + u.name + ' deleted', () => api('DELETE', '/users/' + enc(u.name))))] }],
    users, 'No users.'));
  });
}

function adminVhosts(gen, body) {
  const list = h('div');
  const form = h('form.inline#add-vhost', { onsubmit: e => {
    e.preventDefault();
    const f = fields(form);
    act('Virtual host ' + f.name + ' added', () => api('PUT', '/vhosts/' + enc(f.name), { description: f.description, tags: f.tags }), () => { vhostsCache = null; route(); });
  } },
  h('label', null, 'Name', h('input', { type: 'text', name: 'name', required: true })),
  h('label', null, 'Description', h('input', { type: 'text', name: 'description' })),
  h('label', null, 'Tags', h('input', { type: 'text', name: 'tags' })),
  h('button', { type: 'submit' }, 'Add virtual host'));
  put(body, h('h2', null, 'Virtual hosts'), list, h('h2', null, 'Add a virtual host'), h('div.box', null, form));
  every(gen, async () => {
    const vs = await get('/vhosts');
    if (gen !== pageGen) return;
    put(list, table([
      { title: 'Name', cell: v => v.name }, { title: 'Description', cell: v => v.description || '' },
      { title: 'Messages', num: true, cell: v => fmtNum(v.messages) }, { title: 'Ready', num: true, cell: v => fmtNum(v.messages_ready) },
      { title: 'Unacked', num: true, cell: v => fmtNum(v.messages_unacknowledged) },
      { title: '', cell: v => confirmBtn('Delete', 'Delete virtual host ' + v.name + ' and everything in it?',
        () => act('Virtual host ' + v.name + ' deleted', () => api('DELETE', '/vhosts/' + enc(v.name)), () => { vhostsCache = null; route(); })) }],
    vs, 'No virtual hosts.'));
  });
}

async function adminPermissions(gen, body) {
  const list = h('div');
  const [vl, users] = await Promise.all([vhosts(true), get('/users')]);
  if (gen !== pageGen) return;
  const form = h('form.inline#set-permission', { onsubmit: e => {
    e.preventDefault();
    const f = fields(form);
    act('Permission set', () => api('PUT', '/permissions/' + enc(f.vhost) + '/' + enc(f.user), { configure: f.configure, write: f.write, read: f.read }));
  } },
  h('label', null, 'User', h('select', { name: 'user' }, users.map(u => h('option', null, u.name)))),
  h('label', null, 'Virtual host', vhostSelect(vl, 'vhost')),
  h('label', null, 'Configure regexp', h('input', { type: 'text', name: 'configure', value: '.*' })),
  h('label', null, 'Write regexp', h('input', { type: 'text', name: 'write', value: '.*' })),
  h('label', null, 'Read regexp', h('input', { type: 'text', name: 'read', value: '.*' })),
  h('button', { type: 'submit' }, 'Set permission'));
  put(body, h('h2', null, 'Permissions'), list, h('h2', null, 'Set a permission'), h('div.box', null, form));
  every(gen, async () => {
    const ps = await get('/permissions');
    if (gen !== pageGen) return;
    put(list, table([
      { title: 'User', cell: p => p.user }, { title: 'Virtual host', cell: p => p.vhost },
      { title: 'Configure', cell: p => p.configure }, { title: 'Write', cell: p => p.write }, { title: 'Read', cell: p => p.read },
      { title: '', cell: p => confirmBtn('Clear', 'Clear the permission of ' + p.user + ' in ' + p.vhost + '?',
        () => act('Permission cleared', () => api('DELETE', '/permissions/' + enc(p.vhost) + '/' + enc(p.user)))) }],
    ps, 'No permissions.'));
  });
}

async function adminPolicies(gen, body) {
  const list = h('div');
  const vl = await vhosts(true);
  if (gen !== pageGen) return;
  const def = argsEditor('policy-definition', [['message-ttl', 'number'], ['expires', 'number'], ['max-length', 'number'], ['max-length-bytes', 'number'],
    ['overflow', 'string'], ['dead-letter-exchange', 'string'], ['dead-letter-routing-key', 'string'], ['alternate-exchange', 'string'], ['queue-mode', 'string']]);
  const form = h('form.inline#set-policy', { onsubmit: e => {
    e.preventDefault();
    const f = fields(form);
    let d; try { d = def.read(); } catch (ex) { return flash(ex.message, true); }
    act('Policy ' + f.name + ' set', () => api('PUT', '/policies/' + enc(f.vhost) + '/' + enc(f.name),
      { pattern: f.pattern, 'apply-to': f.apply_to, priority: +f.priority || 0, definition: d }));
  } },
  h('label', null, 'Virtual host', vhostSelect(vl, 'vhost')),
  h('label', null, 'Name', h('input', { type: 'text', name: 'name', required: true })),
  h('label', null, 'Pattern', h('input', { type: 'text', name: 'pattern', required: true, placeholder: '^amq\\.' })),
  h('label', null, 'Apply to', h('select', { name: 'apply_to' }, h('option', { value: 'all' }, 'Exchanges and queues'),
    h('option', { value: 'queues' }, 'Queues'), h('option', { value: 'exchanges' }, 'Exchanges'))),
  h('label', null, 'Priority', h('input', { type: 'number', name: 'priority', value: '0', style: 'width:70px' })),
  h('label', null, 'Definition', def), h('button', { type: 'submit' }, 'Add / update policy'));
  put(body, h('h2', null, 'Policies'), list, h('h2', null, 'Add or update a policy'), h('div.box', null, form));
  every(gen, async () => {
    const ps = await get('/policies');
    if (gen !== pageGen) return;
    put(list, table([
      { title: 'Virtual host', cell: p => p.vhost }, { title: 'Name', cell: p => p.name }, { title: 'Pattern', cell: p => p.pattern },
      { title: 'Apply to', cell: p => p['apply-to'] }, { title: 'Definition', cell: p => JSON.stringify(p.definition) },
      { title: 'Priority', num: true, cell: p => p.priority },
      { title: '', cell: p => confirmBtn('Clear', 'Clear policy ' + p.name + '?',
        () => act('Policy ' + p.name + ' cleared', () => api('DELETE', '/policies/' + enc(p.vhost) + '/' + enc(p.name)))) }],
    ps, 'No policies.'));
  });
}

function adminDefinitions(gen, body) {
  const file = h('input#import-file', { type: 'file', accept: '.json,application/json' });
  const exp = h('button#export', { type: 'button', onclick: async () => {
    try {
      const d = await get('/definitions');
      const blob = new Blob([JSON.stringify(d, null, 2)], { type: 'application/json' });
      const a = h('a', { href: URL.createObjectURL(blob), download: 'warren-definitions-' + new Date().toISOString().slice(0, 10) + '.json' });
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      flash('Definitions exported');
    } catch (e) { if (auth()) flash('Export failed: ' + e.message, true); }
  } }, 'Download broker definitions');
  const imp = h('form.inline#import', { onsubmit: e => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) return flash('Choose a definitions file first', true);
    f.text().then(text => {
      let d; try { d = JSON.parse(text); } catch (ex) { return flash('Not a JSON file: ' + ex.message, true); }
      act('Definitions imported', () => api('POST', '/definitions', d), () => { vhostsCache = null; });
    });
  } }, h('label', null, 'Definitions file (JSON)', file), h('button', { type: 'submit' }, 'Upload broker definitions'));
  put(body, h('h2', null, 'Export definitions'), h('div.box', null,
    h('p.muted', null, 'Users, virtual hosts, permissions, policies, exchanges, queues and bindings, as a JSON file RabbitMQ can import too.'), exp),
  h('h2', null, 'Import definitions'), h('div.box', null, h('p.muted', null, 'Adds what the file defines; existing objects stay.'), imp));
  void gen;
}

/* ---------- start ---------- */

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  $('#logout').addEventListener('click', () => logout('Logged out.'));
  $('#refresh').addEventListener('change', route);
  if (auth()) start(); else showLogin();
});
