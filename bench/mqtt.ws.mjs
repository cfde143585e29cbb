// mqtt.ws.mjs URL N — MQTT over WebSocket vs TCP (bench/mqtt.sh): one MQTT.js publisher
// and one subscriber on URL (mqtt://host:port or ws://host:port/mqtt), N QoS 0 messages
// of 64 bytes with at most 500 in flight. Prints the same key=value line as bench_mqtt.
// MQTT.js comes from tests/interop/mqtt/node (npm ci there: tests/interop/mqtt/node/ensure.sh).
import { createRequire } from "module";
import path from "path";
import { fileURLToPath } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../tests/interop/mqtt/node/package.json"));
const mqtt = require("mqtt");

const [url, nArg] = process.argv.slice(2);
const n = Number(nArg || 50000);
const window = 500;
const opts = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 };
const sub = await mqtt.connectAsync(url, { ...opts, clientId: `wsb-sub-${process.pid}` });
const pub = await mqtt.connectAsync(url, { ...opts, clientId: `wsb-pub-${process.pid}` });
await sub.subscribeAsync("wsbench/#", { qos: 0 });

const lat = [];
let received = 0, sent = 0, lastProgress = Date.now(), stall;
const payload = Buffer.alloc(64);
const t0 = process.hrtime.bigint();
const done = new Promise((resolve) => {
    sub.on("message", (topic, p) => {
        lat.push(Number(process.hrtime.bigint() - p.readBigInt64LE(0)) / 1000);
        received++;
        lastProgress = Date.now();
        if (received === n) resolve();
        pump();
    });
    stall = setInterval(() => {
        if (Date.now() - lastProgress > 2000) resolve();
    }, 200);
});
function pump() {
    while (sent < n && sent - received < window) {
        payload.writeBigInt64LE(process.hrtime.bigint(), 0);
        pub.publish("wsbench/x", Buffer.from(payload), { qos: 0 });
        sent++;
    }
}
pump();
await done;
clearInterval(stall);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
lat.sort((a, b) => a - b);
const q = (f) => (lat.length ? Math.round(lat[Math.floor(lat.length * f)]) : 0);
console.log(`msgs_per_s=${Math.round(received / secs)} p50_us=${q(0.5)} p99_us=${q(0.99)} ` +
    `lost=${n - received} delivered=${received} seconds=${secs.toFixed(2)}`);
await sub.endAsync();
await pub.endAsync();
process.exit(0);
