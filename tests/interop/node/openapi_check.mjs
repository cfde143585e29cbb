// openapi_check.mjs — checks that docs/openapi.json is true of the running server: the
// document served at /v1/openapi.json is byte-identical to docs/openapi.json, and every
// response of a scripted session (every REST operation, success and error cases) has a
// status the document lists for that operation, the documented media type, and a body
// valid against the documented schema (ajv, JSON Schema 2020-12). The messages that SSE
// events and WebSocket deliveries carry are checked against the Message schema too.
//
// usage: node openapi_check.mjs BASE_URL DOC_PATH
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import WebSocket from 'ws';

const [base, docPath] = process.argv.slice(2);
const docText = readFileSync(docPath, 'utf8');
const doc = JSON.parse(docText);
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, 'openapi');

let failures = 0;
const exercised = new Set();
const fail = (msg) => { failures++; console.error('FAIL: ' + msg); };

// The operation whose path template matches path (literal segments beat parameters).
function findOperation(method, path) {
  const segs = path.split('?')[0].split('/');
  let best = null, bestScore = -1;
  for (const [tpl, item] of Object.entries(doc.paths)) {
    const t = tpl.split('/');
    if (t.length !== segs.length || !item[method]) continue;
    let score = 0, ok = true;
    for (let i = 0; i < t.length && ok; i++) {
      if (t[i].startsWith('{')) continue;
      if (t[i] === segs[i]) score++; else ok = false;
    }
    if (ok && score > bestScore) { best = { tpl, op: item[method] }; bestScore = score; }
  }
  return best;
}

function resolve(obj) {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/');
    obj = parts.reduce((o, p) => o[p.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return obj;
}

async function call(method, path, { body, json, headers = {} } = {}) {
  const h = { ...headers };
  let payload = body;
  if (json !== undefined) { payload = JSON.stringify(json); h['Content-Type'] ??= 'application/json'; }
  const res = await fetch(base + path, { method: method.toUpperCase(), headers: h, body: payload,
                                         signal: AbortSignal.timeout(15000) });
  const text = await res.text();
  check(method, path, res, text);
  return { status: res.status, body: text ? safeJson(text) : null, headers: res.headers };
}

function safeJson(t) { try { return JSON.parse(t); } catch { return t; } }

function check(method, path, res, text) {
  const found = findOperation(method, path);
  if (!found) return fail(`${method} ${path}: no operation in the document`);
  exercised.add(found.op.operationId);
  const where = `${method.toUpperCase()} ${path} -> ${res.status} (${found.op.operationId})`;
  const resp = resolve(found.op.responses[String(res.status)]);
  if (!resp) return fail(`${where}: status not documented`);
  if (!resp.content) {
    if (text.length) fail(`${where}: documented without a body, got ${text.slice(0, 80)}`);
    return;
  }
  const ct = (res.headers.get('content-type') || '').split(';')[0].trim();
  const media = resp.content[ct];
  if (!media) return fail(`${where}: media type ${ct} not documented (${Object.keys(resp.content)})`);
  if (!ct.includes('json')) return;
  const validate = ajv.getSchema('openapi') && ajv.compile({ $ref: 'openapi#' + pointerTo(found, res.status, ct) });
  const data = JSON.parse(text);
  if (!validate(data)) fail(`${where}: ${ajv.errorsText(validate.errors)}\n  body: ${text.slice(0, 300)}`);
}

// JSON pointer (inside the document) to the schema of a response.
function pointerTo(found, status, ct) {
  let r = found.op.responses[String(status)];
  let ptr;
  if (r.$ref) ptr = r.$ref.slice(1);
  else {
    const enc = found.tpl.replace(/~/g, '~0').replace(/\//g, '~1');
    const method = Object.keys(doc.paths[found.tpl]).find((m) => doc.paths[found.tpl][m] === found.op);
    ptr = `/paths/${enc}/${method}/responses/${status}`;
  }
  return `${ptr}/content/${ct.replace(/\//g, '~1')}/schema`;
}

const messageSchema = () => ajv.compile({ $ref: 'openapi#/components/schemas/Message' });

// The data of the first `count` SSE message events from path.
async function sseMessages(path, count) {
  const res = await fetch(base + path, { headers: { Accept: 'text/event-stream' },
                                         signal: AbortSignal.timeout(10000) });
  if (res.status !== 200) { fail(`GET ${path}: ${res.status}`); return []; }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const out = [];
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0 && out.length < count) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = ev.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (/^event: message$/m.test(ev)) out.push(JSON.parse(data));
    }
  }
  await reader.cancel();
  return out;
}

async function wsMessages(sub, count) {
  const ws = new WebSocket(base.replace('http', 'ws') + '/v1/ws', 'omnibus.v1');
  const out = [];
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('websocket timeout')), 10000);
    ws.on('open', () => ws.send(JSON.stringify(sub)));
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.op === 'msg') out.push(m.message);
      if (out.length === count) { clearTimeout(t); resolve(); }
    });
    ws.on('error', reject);
  });
  ws.close();
  return out;
}

async function pushedMessages() {
  const validate = messageSchema();
  const sse = await sseMessages('/v1/subscribe?subject=orders.>&from_seq=1', 3);
  const ws = await wsMessages({ op: 'sub', id: 'v', subject: 'orders.>', from_seq: 1 }, 3);
  if (sse.length !== 3 || ws.length !== 3) fail(`pushed messages: ${sse.length} SSE, ${ws.length} WS`);
  for (const [what, m] of [...sse.map((m) => ['SSE', m]), ...ws.map((m) => ['WebSocket', m])]) {
    if (!validate(m)) fail(`${what} message: ${ajv.errorsText(validate.errors)}: ${JSON.stringify(m)}`);
  }
}

async function session() {
  const served = await fetch(base + '/v1/openapi.json').then((r) => r.text());
  if (served !== docText) fail('/v1/openapi.json differs from docs/openapi.json');
  await call('get', '/v1/openapi.json');
  // publishing
  await call('post', '/v1/subjects/plain.x', { body: 'no stream' });
  await call('post', '/v1/streams', { json: { name: 'ORD', subjects: ['orders.>'] } });
  await call('post', '/v1/streams', { json: { name: 'ORD', subjects: ['orders.>'] } });
  await call('post', '/v1/streams', { json: { name: 'ORD', subjects: ['x.>'] } });
  await call('post', '/v1/streams', { json: { name: 'BAD', subjects: ['x'], nope: 1 } });
  await call('post', '/v1/streams', { body: 'x=1', headers: { 'Content-Type': 'text/plain' } });
  await call('put', '/v1/streams/WQ', { json: { subjects: ['jobs.>'], retention: 'workqueue' } });
  await call('put', '/v1/streams/WQ', { json: { subjects: ['jobs.>'], retention: 'workqueue', max_msgs: 10 } });
  await call('put', '/v1/streams/WQ', { json: { subjects: ['jobs.>'] } });
  await call('post', '/v1/subjects/orders.eu', { body: 'hello', headers: { 'Omnibus-Header-A': '1', 'Omnibus-Key': 'k' } });
  await call('post', '/v1/subjects/orders.bin', { body: new Uint8Array([0xff, 0, 1]) });
  await call('post', '/v1/subjects/orders.eu', { body: 'once', headers: { 'Idempotency-Key': 'i1' } });
  await call('post', '/v1/subjects/orders.eu', { body: 'once', headers: { 'Idempotency-Key': 'i1' } });
  await call('post', '/v1/subjects/orders.eu', { body: 'other', headers: { 'Idempotency-Key': 'i1' } });
  await call('post', '/v1/subjects/bad..subject', { body: 'x' });
  await call('post', '/v1/subjects/orders.big', { body: 'x'.repeat(70000) });
  await call('post', '/v1/publish', { json: [{ subject: 'orders.a', payload: 'a' }, { subject: 'orders.b', payload_base64: '/wA=' }] });
  await call('post', '/v1/publish', { json: { messages: [{ subject: 'orders.c', payload: 'c', key: 'k', headers: { h: 'v' } }] }, headers: { 'Idempotency-Key': 'b1' } });
  await call('post', '/v1/publish', { json: { messages: [{ subject: 'orders.c', payload: 'c', key: 'k', headers: { h: 'v' } }] }, headers: { 'Idempotency-Key': 'b1' } });
  await call('post', '/v1/publish', { json: [{ subject: 'orders.*' }] });
  await call('post', '/v1/publish', { body: '[]', headers: { 'Content-Type': 'text/csv' } });
  await call('post', '/v1/publish', { body: '[{', headers: { 'Content-Type': 'application/json' } });
  await call('post', '/v1/subjects/secret.x', { body: 'x', headers: { Authorization: 'Bearer bob-token' } });
  // streams
  await call('get', '/v1/streams');
  await call('get', '/v1/streams/ORD');
  await call('get', '/v1/streams/NOPE');
  await call('get', '/v1/streams/ORD/messages');
  await call('get', '/v1/streams/ORD/messages?from_seq=2&limit=2&filter=orders.*&encoding=base64');
  await call('get', '/v1/streams/ORD/messages?from_time=2020-01-01T00:00:00Z');
  await call('get', '/v1/streams/ORD/messages?limit=5000');
  await call('get', '/v1/streams/ORD/messages?filter=secret.>', { headers: { Authorization: 'Bearer bob-token' } });
  await call('get', '/v1/streams/NOPE/messages');
  await call('get', '/v1/streams/ORD/messages/1');
  await call('get', '/v1/streams/ORD/messages/2');
  await call('get', '/v1/streams/ORD/messages/999');
  await call('get', '/v1/streams/ORD/messages/x');
  // messages pushed over SSE and WebSocket (the stream holds several by now)
  await pushedMessages();
  // consumers and leases
  await call('post', '/v1/streams/ORD/consumers', { json: { name: 'C', ack_wait_ms: 30000, dead_letter: 'dlq.ord' } });
  await call('post', '/v1/streams/ORD/consumers', { json: { name: 'C', ack_wait_ms: 30000, dead_letter: 'dlq.ord' } });
  await call('post', '/v1/streams/ORD/consumers', { json: { name: 'C', ack_wait_ms: 1 } });
  await call('post', '/v1/streams/NOPE/consumers', { json: { name: 'C' } });
  await call('put', '/v1/streams/ORD/consumers/D', { json: { filter: 'orders.eu', ack: 'cumulative' } });
  await call('put', '/v1/streams/ORD/consumers/D', { json: { filter: 'orders.eu', ack: 'cumulative' } });
  await call('get', '/v1/streams/ORD/consumers');
  await call('get', '/v1/streams/ORD/consumers/C');
  await call('get', '/v1/streams/ORD/consumers/NOPE');
  const pulled = await call('post', '/v1/streams/ORD/consumers/C/pull', { json: { max_messages: 3 } });
  const ids = (pulled.body.messages || []).map((m) => m.ack_id);
  if (ids.length !== 3) fail(`pull returned ${ids.length} messages`);
  await call('post', '/v1/streams/ORD/consumers/C/pull?encoding=base64', { json: { max_messages: 1, max_wait_ms: 100 } });
  await call('post', '/v1/streams/ORD/consumers/C/pull', { json: { max_messages: 5000 } });
  await call('post', '/v1/streams/ORD/consumers/NOPE/pull', { json: {} });
  await call('post', '/v1/streams/ORD/consumers/C/ack', { json: { ack_ids: [ids[0], 'ORD:9999'] } });
  await call('post', '/v1/streams/ORD/consumers/C/ack', { json: { ack_ids: ['nope'] } });
  await call('post', '/v1/streams/ORD/consumers/C/ack', { body: 'x', headers: { 'Content-Type': 'text/plain' } });
  await call('post', '/v1/streams/ORD/consumers/C/extend', { json: { ack_ids: [ids[1]], ms: 60000 } });
  await call('post', '/v1/streams/ORD/consumers/C/nack', { json: { ack_ids: [ids[1]], delay_ms: 10 } });
  await call('post', '/v1/streams/ORD/consumers/C/nack', { json: { ack_ids: [] } });
  await call('post', '/v1/streams/ORD/consumers/NOPE/extend', { json: { ack_ids: ['ORD:1'] } });
  await call('post', '/v1/streams/ORD/purge', { json: { filter: 'orders.a' } });
  await call('post', '/v1/streams/ORD/purge', { json: { filter: 'a..b' } });
  await call('post', '/v1/streams/ORD/purge');
  await call('post', '/v1/streams/NOPE/purge');
  // real-time endpoints: the statuses that end without a stream
  await call('get', '/v1/subscribe');
  await call('get', '/v1/subscribe?subject=a', { headers: { Accept: 'application/json' } });
  await call('get', '/v1/subscribe?subject=orders.>&stream=NOPE');
  await call('get', '/v1/subscribe?subject=orders.>&until_seq=1', { headers: { 'Last-Event-ID': 'ORD:5' } });
  await call('get', '/v1/subscribe?subject=secret.>', { headers: { Authorization: 'Bearer bob-token' } });
  await call('get', '/v1/subscribe?subject=orders.>', { headers: { Authorization: 'Bearer wrong' } });
  await call('get', '/v1/ws');
  // deletes
  await call('delete', '/v1/streams/ORD/consumers/D');
  await call('delete', '/v1/streams/ORD/consumers/D');
  await call('delete', '/v1/streams/WQ');
  await call('delete', '/v1/streams/WQ');

  const all = [];
  for (const item of Object.values(doc.paths))
    for (const [m, op] of Object.entries(item)) if (m !== 'parameters') all.push(op.operationId);
  const missing = all.filter((id) => !exercised.has(id));
  if (missing.length) fail('operations never exercised: ' + missing.join(', '));
}

await session();
if (failures) { console.error(`${failures} failure(s)`); process.exit(1); }
console.log(`openapi_check: every response valid (${exercised.size} operations)`);
