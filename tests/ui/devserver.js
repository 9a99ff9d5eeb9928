#!/usr/bin/env node
// Development server for the web UI: serves broker/admin/www/ from the source
// tree (edit, reload) and forwards /api/* to a management API, e.g. the
// reference RabbitMQ's plugin, so the UI can be built and tested against it.
//   node tests/ui/devserver.js [--port 8080] [--api http://127.0.0.1:15672]
// Prints "listening on PORT" once ready (port 0 picks a free one).
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const port = +opt('--port', 8080);
const api = new URL(opt('--api', 'http://127.0.0.1:15672'));
const root = path.resolve(__dirname, '../../broker/admin/www');
const types = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/api/')) {
    const up = http.request({ host: api.hostname, port: api.port, method: req.method, path: req.url,
      headers: Object.assign({}, req.headers, { host: api.host }) }, r => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
    up.on('error', e => { res.writeHead(502, { 'content-type': 'text/plain' }); res.end('proxy: ' + e.message); });
    req.pipe(up);
    return;
  }
  const rel = url.pathname === '/' ? '/index.html' : decodeURIComponent(url.pathname);
  const file = path.join(root, path.normalize(rel));
  if (!file.startsWith(root + path.sep)) { res.writeHead(404); res.end(); return; }
  fs.readFile(file, (err, data) => {
    if (err) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found'); return; }
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache' });
    res.end(data);
  });
});
server.listen(port, '127.0.0.1', () => console.log('listening on ' + server.address().port));
