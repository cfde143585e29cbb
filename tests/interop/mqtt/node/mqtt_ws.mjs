// mqtt_ws.mjs WS_PORT TCP_PORT — MQTT.js (npm mqtt) over WebSocket at /mqtt, v5 and 3.1.1:
// keepalive enforcement (a raw ws client),
// QoS 0/1/2 round trips, v5 user properties and correlation data, a retained message,
// and messages crossing between a WebSocket client and a TCP client. Exits 1 on failure.
import mqtt from "mqtt";
import WebSocket from "ws";

const [wsPort, tcpPort] = process.argv.slice(2);
const ws = (v, id) => mqtt.connectAsync(`ws://127.0.0.1:${wsPort}/mqtt`,
    { protocolVersion: v, clientId: id, reconnectPeriod: 0, connectTimeout: 5000 });
const tcp = (v, id) => mqtt.connectAsync(`mqtt://127.0.0.1:${tcpPort}`,
    { protocolVersion: v, clientId: id, reconnectPeriod: 0, connectTimeout: 5000 });

function next(client, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no message within " + timeoutMs + " ms")),
            timeoutMs);
        client.once("message", (topic, payload, packet) => {
            clearTimeout(t);
            resolve({ topic, payload: payload.toString(), packet });
        });
    });
}

function check(cond, what) {
    if (!cond) throw new Error(what);
    console.log("ok", what);
}

async function roundtrips(v) {
    const sub = await ws(v, `js-sub-${v}`);
    const pub = await ws(v, `js-pub-${v}`);
    await sub.subscribeAsync(`js/${v}/#`, { qos: 2 });
    for (const qos of [0, 1, 2]) {
        const got = next(sub);
        await pub.publishAsync(`js/${v}/q${qos}`, `m${qos}`, { qos });
        const m = await got;
        check(m.topic === `js/${v}/q${qos}` && m.payload === `m${qos}` && m.packet.qos === qos,
            `MQTT ${v === 5 ? "5.0" : "3.1.1"} over WebSocket, QoS ${qos}`);
    }
    await sub.endAsync();
    await pub.endAsync();
}

async function properties() {
    const sub = await ws(5, "js-props-sub");
    const pub = await ws(5, "js-props-pub");
    await sub.subscribeAsync("js/props", { qos: 1 });
    const got = next(sub);
    await pub.publishAsync("js/props", "p", {
        qos: 1,
        properties: { userProperties: { k: "v" }, correlationData: Buffer.from("c1"),
            responseTopic: "js/reply", contentType: "text/plain" },
    });
    const p = (await got).packet.properties || {};
    check(p.userProperties && p.userProperties.k === "v" && p.correlationData &&
        p.correlationData.toString() === "c1" && p.responseTopic === "js/reply" &&
        p.contentType === "text/plain", "v5 properties over WebSocket");
    await sub.endAsync();
    await pub.endAsync();
}

async function retained() {
    const pub = await ws(4, "js-ret-pub");
    await pub.publishAsync("js/ret", "kept", { qos: 1, retain: true });
    const sub = await ws(4, "js-ret-sub");
    const got = next(sub);
    await sub.subscribeAsync("js/ret", { qos: 1 });
    const m = await got;
    check(m.payload === "kept" && m.packet.retain, "retained message over WebSocket");
    await pub.publishAsync("js/ret", "", { qos: 1, retain: true });
    await sub.endAsync();
    await pub.endAsync();
}

async function crossTransport() {
    const wsSub = await ws(5, "js-x-ws");
    const tcpSub = await tcp(5, "js-x-tcp");
    await wsSub.subscribeAsync("js/x/tcp", { qos: 1 });
    await tcpSub.subscribeAsync("js/x/ws", { qos: 1 });
    let got = next(wsSub);
    await tcpSub.publishAsync("js/x/tcp", "from-tcp", { qos: 1 });
    check((await got).payload === "from-tcp", "TCP client to WebSocket client");
    got = next(tcpSub);
    await wsSub.publishAsync("js/x/ws", "from-ws", { qos: 1 });
    check((await got).payload === "from-ws", "WebSocket client to TCP client");
    await wsSub.endAsync();
    await tcpSub.endAsync();
}

// A silent client (CONNECT with keepalive 1 s, then nothing) is closed after 1.5 s:
// over WebSocket the broker's tick enforces it (the HTTP layer owns the socket).
async function keepalive() {
    const sock = new WebSocket(`ws://127.0.0.1:${wsPort}/mqtt`, "mqtt");
    await new Promise((res, rej) => { sock.on("open", res); sock.on("error", rej); });
    const id = Buffer.from("js-silent");
    const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from("MQTT"),
        Buffer.from([4, 2, 0, 1, 0, id.length]), id]);
    sock.send(Buffer.concat([Buffer.from([0x10, body.length]), body]));
    const t0 = Date.now();
    const closed = await new Promise((res) => {
        const t = setTimeout(() => res(false), 5000);
        sock.on("close", () => { clearTimeout(t); res(true); });
    });
    const secs = (Date.now() - t0) / 1000;
    check(closed && secs >= 1.2, `keepalive enforced over WebSocket (closed after ${secs} s)`);
}

try {
    await keepalive();
    await roundtrips(5);
    await roundtrips(4);
    await properties();
    await retained();
    await crossTransport();
    process.exit(0);
} catch (e) {
    console.error("FAIL:", e.message);
    process.exit(1);
}
