// ws_client.mjs — the WebSocket pub/sub protocol with npm `ws`: permessage-deflate
// negotiated, a pub sent as two fragments, ping/pong, resume from a stream sequence,
// the binary variant, and unsubscribe.
//
// usage: node ws_client.mjs PORT
import WebSocket from 'ws';

const url = `ws://127.0.0.1:${process.argv[2]}/v1/ws`;
const assert = (c, m) => { if (!c) throw new Error(m); };

function open(protocol) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol, { perMessageDeflate: true });
    ws.queue = [];
    ws.waiters = [];
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? data : JSON.parse(data.toString());
      const w = ws.waiters.shift();
      if (w) w(m); else ws.queue.push(m);
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function next(ws, ms = 5000) {
  if (ws.queue.length) return Promise.resolve(ws.queue.shift());
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout waiting for a message')), ms);
    ws.waiters.push((m) => { clearTimeout(t); resolve(m); });
  });
}

const a = await open('omnibus.v1');
assert(a.protocol === 'omnibus.v1', 'subprotocol ' + a.protocol);
assert(a.extensions.includes('permessage-deflate'), 'permessage-deflate not negotiated: ' + a.extensions);
a.send(JSON.stringify({ op: 'sub', id: 'n', subject: 'node.>', req: 1 }));
let m = await next(a);
assert(m.op === 'subscribed' && m.stream === 'NODE', JSON.stringify(m));
// a publish split into two frames (fragmentation is the server layer's to reassemble)
const text = JSON.stringify({ op: 'pub', subject: 'node.frag', payload: 'x'.repeat(3000), req: 'f' });
a.send(text.slice(0, 100), { fin: false });
a.send(text.slice(100), { fin: true });
const seen = {};
for (let i = 0; i < 2; i++) { m = await next(a); seen[m.op] = m; }
assert(seen.ack && seen.ack.seq === 1 && seen.ack.req === 'f', 'ack ' + JSON.stringify(seen.ack));
assert(seen.msg && seen.msg.id === 'NODE:1' && seen.msg.message.payload.length === 3000, 'msg');
// ping/pong at the WebSocket level
await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error('no pong')), 5000);
  a.once('pong', (d) => { clearTimeout(t); assert(d.toString() === 'hi', 'pong data'); resolve(); });
  a.ping('hi');
});
// a second client resumes from sequence 1, in binary mode
const b = await open('omnibus.v1.bin');
b.send(JSON.stringify({ op: 'sub', id: 'r', subject: 'node.>', from_seq: 1 }));
m = await next(b);
assert(m.op === 'subscribed' && m.cursor === 1, JSON.stringify(m));
const f = await next(b);
assert(Buffer.isBuffer(f), 'binary delivery expected');
const n = f.readUInt32BE(0);
const h = JSON.parse(f.subarray(4, 4 + n).toString());
assert(h.id === 'NODE:1' && f.length - 4 - n === 3000, 'binary frame ' + JSON.stringify(h));
// resume after a delivery id ("after", like SSE's Last-Event-ID)
b.send(JSON.stringify({ op: 'sub', id: 'after', subject: 'node.>', after: 'NODE:1' }));
m = await next(b);
assert(m.op === 'subscribed' && m.cursor === 2, 'after: ' + JSON.stringify(m));
b.send(JSON.stringify({ op: 'sub', id: 'bad', subject: 'node.>', after: 'nonsense', req: 'x' }));
m = await next(b);
assert(m.op === 'error' && m.req === 'x' && m.status === 400, 'bad after: ' + JSON.stringify(m));
// format raw: the payload alone, as a text frame when it is UTF-8
const raw = await new Promise((resolve, reject) => {
  const ws = new WebSocket(url, 'omnibus.v1');
  const frames = [];
  const t = setTimeout(() => reject(new Error('raw: timeout')), 5000);
  ws.on('open', () => ws.send(JSON.stringify({ op: 'sub', id: 'raw', subject: 'node.>', from_seq: 1, format: 'raw' })));
  ws.on('message', (data, isBinary) => {
    frames.push({ text: data.toString(), isBinary });
    if (frames.length === 2) { clearTimeout(t); ws.close(1000); resolve(frames); }
  });
  ws.on('error', reject);
});
assert(JSON.parse(raw[0].text).op === 'subscribed', 'raw: ' + raw[0].text);
assert(!raw[1].isBinary && raw[1].text === 'x'.repeat(3000), 'raw payload frame');
// unsubscribe: no further deliveries to a
a.send(JSON.stringify({ op: 'unsub', id: 'n', req: 2 }));
m = await next(a);
assert(m.op === 'unsubscribed', JSON.stringify(m));
a.send(JSON.stringify({ op: 'pub', subject: 'node.after', payload: 'late', req: 3 }));
m = await next(a);
assert(m.op === 'ack' && m.seq === 2, JSON.stringify(m));
const late = await next(b);
assert(Buffer.isBuffer(late), 'b gets the later message');
await next(a, 500).then((x) => { throw new Error('delivery after unsub: ' + JSON.stringify(x)); }, () => {});
a.close(1000);
b.close(1000);
console.log('ws_client: ok');
