// browser.mjs — a real browser against omnibus: Debian's headless Chromium driven by
// playwright-core (no browser download). The page comes from a small node HTTP server on
// another loopback port, so every request to omnibus is cross-origin (CORS). (A data:
// URL page is not a secure context, and Chromium's Private Network Access rules block
// it from loopback altogether.)
//
//  1. EventSource on a stream-backed subject receives ORD:1..3; the server is restarted
//     (same data dir and port) and ORD:4..6 are published before the browser's retry
//     (2 s) runs out; the browser reconnects with Last-Event-ID and gets 4..6: no gap,
//     no duplicate (without the resume it would start after 6 and miss them).
//  2. WebSocket (/v1/ws, subprotocol omnibus.v1) in the same page: subscribe, publish
//     with an ack; the message reaches the WebSocket and the EventSource (cross-protocol).
//  3. until_seq: the server ends the feed, the reconnect is answered 204 and the
//     EventSource closes for good (readyState CLOSED).
//
// usage: node browser.mjs OMNIBUS_BINARY PORT TMPDIR
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [bin, port, tmp] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}`;
const dataDir = join(tmp, 'data');
let server = null;

function startServer() {
  const log = openSync(join(tmp, 'server.log'), 'a');
  server = spawn(bin, ['serve', '--data-dir', dataDir, '--no-default-listeners',
                       '--set', `listeners.http=127.0.0.1:${port}`], { stdio: ['ignore', log, log] });
  return waitReady();
}

async function waitReady() {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(base + '/v1/streams', { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not come up');
}

function stopServer() {
  return new Promise((resolve) => {
    const t = setTimeout(() => server.kill('SIGKILL'), 10000);
    server.once('exit', () => { clearTimeout(t); resolve(); });
    server.kill('SIGTERM');
  });
}

async function publish(subject, payload) {
  const r = await fetch(`${base}/v1/subjects/${subject}`, { method: 'POST', body: payload,
                                                            signal: AbortSignal.timeout(5000) });
  if (r.status !== 200) throw new Error(`publish ${subject}: ${r.status}`);
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function main() {
  await startServer();
  const r = await fetch(base + '/v1/streams', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                               body: JSON.stringify({ name: 'ORD', subjects: ['orders.>'] }) });
  assert(r.status === 201, 'stream create ' + r.status);

  const pageServer = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>omnibus</title>');
  });
  await new Promise((r) => pageServer.listen(0, '127.0.0.1', r));
  const pageUrl = `http://127.0.0.1:${pageServer.address().port}/`;
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmp, 'chromium-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await ctx.newPage();
    page.on('console', (m) => console.log('page:', m.text()));
    await page.goto(pageUrl);

    // 1. EventSource with a resume across a server restart
    await page.evaluate((b) => {
      window.events = []; window.opens = 0;
      const es = new EventSource(b + '/v1/subscribe?subject=orders.>');
      window.es = es;
      es.onopen = () => { window.opens++; };
      es.addEventListener('message', (e) => window.events.push(e.lastEventId + '|' + JSON.parse(e.data).payload));
    }, base);
    await page.waitForFunction(() => window.opens === 1, null, { timeout: 10000 });
    for (const p of ['m1', 'm2', 'm3']) await publish('orders.eu', p);
    await page.waitForFunction(() => window.events.length === 3, null, { timeout: 10000 });
    await stopServer();
    await startServer();
    for (const p of ['m4', 'm5', 'm6']) await publish('orders.eu', p);
    await page.waitForFunction(() => window.events.length >= 6 && window.opens === 2, null, { timeout: 15000 });
    const got = await page.evaluate(() => window.events);
    const want = [1, 2, 3, 4, 5, 6].map((i) => `ORD:${i}|m${i}`);
    assert(JSON.stringify(got) === JSON.stringify(want), 'EventSource events: ' + JSON.stringify(got));
    console.log('browser: EventSource resumed with Last-Event-ID across a restart:', got.join(' '));

    // 2. WebSocket in the page; the same message also reaches the EventSource
    const ws = await page.evaluate((b) => new Promise((resolve, reject) => {
      const out = { ack: null, msg: null };
      const s = new WebSocket(b.replace('http', 'ws') + '/v1/ws', 'omnibus.v1');
      setTimeout(() => reject(new Error('websocket timeout: ' + JSON.stringify(out))), 10000);
      s.onopen = () => s.send(JSON.stringify({ op: 'sub', id: 'w', subject: 'orders.>', req: 's' }));
      s.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.op === 'subscribed') s.send(JSON.stringify({ op: 'pub', subject: 'orders.ws', payload: 'from-browser', req: 'p' }));
        if (m.op === 'ack') out.ack = m;
        if (m.op === 'msg') out.msg = m;
        if (out.ack && out.msg) { s.close(1000); resolve({ ...out, protocol: s.protocol }); }
      };
      s.onerror = () => reject(new Error('websocket error'));
    }), base);
    assert(ws.protocol === 'omnibus.v1', 'subprotocol ' + ws.protocol);
    assert(ws.ack.stream === 'ORD' && ws.ack.seq === 7, 'ack ' + JSON.stringify(ws.ack));
    assert(ws.msg.id === 'ORD:7' && ws.msg.message.payload === 'from-browser', 'msg ' + JSON.stringify(ws.msg));
    await page.waitForFunction(() => window.events.length === 7, null, { timeout: 10000 });
    assert((await page.evaluate(() => window.events[6])) === 'ORD:7|from-browser', 'SSE did not get the WebSocket publish');
    console.log('browser: WebSocket subscribe/publish/ack ok; EventSource got the WebSocket message');

    // 3. until_seq: end event, then 204 on the reconnect, then CLOSED for good
    const stop = await page.evaluate((b) => new Promise((resolve) => {
      const out = { ids: [], end: false };
      const es = new EventSource(b + '/v1/subscribe?subject=orders.>&from_seq=1&until_seq=2');
      es.addEventListener('message', (e) => out.ids.push(e.lastEventId));
      es.addEventListener('end', () => { out.end = true; });
      const t = setInterval(() => {
        if (es.readyState === EventSource.CLOSED) { clearInterval(t); resolve(out); }
      }, 50);
      setTimeout(() => { clearInterval(t); out.state = es.readyState; resolve(out); }, 10000);
    }), base);
    assert(stop.end && stop.state === undefined, 'EventSource did not stop: ' + JSON.stringify(stop));
    assert(JSON.stringify(stop.ids) === '["ORD:1","ORD:2"]', 'until_seq ids ' + JSON.stringify(stop.ids));
    console.log('browser: until_seq ended the feed and the 204 stopped EventSource');
  } finally {
    await ctx.close();
    pageServer.close();
    await stopServer();
  }
}

main().then(() => console.log('browser: ok'), async (e) => {
  console.error('FAIL:', e.message);
  if (server && server.exitCode === null) server.kill('SIGKILL');
  process.exit(1);
});
