"""raw.py — a minimal MQTT 3.1.1/5.0 client on a plain socket, for tests that must see
or send exact packets (reason codes, properties, malformed bytes). Not a general client:
every read has a timeout and a test fails rather than hangs."""
import os
import socket
import struct

PORT = int(os.environ.get("MQTT_PORT", "1883"))

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

# property id -> kind: b byte, h u16, i u32, v varint, s string, d binary, p string pair
PROPS = {0x01: "b", 0x02: "i", 0x03: "s", 0x08: "s", 0x09: "d", 0x0B: "v", 0x11: "i",
         0x12: "s", 0x13: "h", 0x15: "s", 0x16: "d", 0x17: "b", 0x18: "i", 0x19: "b",
         0x1A: "s", 0x1C: "s", 0x1F: "s", 0x21: "h", 0x22: "h", 0x23: "h", 0x24: "b",
         0x25: "b", 0x26: "p", 0x27: "i", 0x28: "b", 0x29: "b", 0x2A: "b"}


def vbi(n):
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def s(x):
    if isinstance(x, str):
        x = x.encode()
    return struct.pack(">H", len(x)) + x


def props(p):
    """p: list of (id, value); values: int, str/bytes, or (k, v) for user properties."""
    out = b""
    for pid, v in p or []:
        k = PROPS[pid]
        out += vbi(pid)
        if k == "b":
            out += bytes([v])
        elif k == "h":
            out += struct.pack(">H", v)
        elif k == "i":
            out += struct.pack(">I", v)
        elif k == "v":
            out += vbi(v)
        elif k in "sd":
            out += s(v)
        else:
            out += s(v[0]) + s(v[1])
    return vbi(len(out)) + out


def packet(ptype, flags, body):
    return bytes([ptype << 4 | flags]) + vbi(len(body)) + body


def parse_props(b, off):
    n, off = read_vbi(b, off)
    end = off + n
    out = {}
    while off < end:
        pid, off = read_vbi(b, off)
        k = PROPS[pid]
        if k == "b":
            v, off = b[off], off + 1
        elif k == "h":
            v, off = struct.unpack_from(">H", b, off)[0], off + 2
        elif k == "i":
            v, off = struct.unpack_from(">I", b, off)[0], off + 4
        elif k == "v":
            v, off = read_vbi(b, off)
        elif k in "sd":
            ln = struct.unpack_from(">H", b, off)[0]
            v, off = b[off + 2:off + 2 + ln], off + 2 + ln
        else:
            l1 = struct.unpack_from(">H", b, off)[0]
            k1 = b[off + 2:off + 2 + l1]
            off += 2 + l1
            l2 = struct.unpack_from(">H", b, off)[0]
            v = (k1.decode(), b[off + 2:off + 2 + l2].decode())
            off += 2 + l2
        if pid in (0x26, 0x0B):
            out.setdefault(pid, []).append(v)
        else:
            out[pid] = v
    return out, end


def read_vbi(b, off):
    mult, val = 1, 0
    while True:
        d = b[off]
        off += 1
        val += (d & 127) * mult
        mult *= 128
        if not d & 128:
            return val, off


class Closed(Exception):
    pass


class Raw:
    def __init__(self, v=5, timeout=5.0, port=None):
        self.v = v
        self.sock = socket.create_connection(("127.0.0.1", port or PORT), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed()
            self.buf += chunk

    def read(self):
        """Returns (type, flags, body); raises Closed on EOF, socket.timeout on silence."""
        self._fill(2)
        mult, val, off = 1, 0, 1
        while True:
            self._fill(off + 1)
            d = self.buf[off]
            off += 1
            val += (d & 127) * mult
            mult *= 128
            if not d & 128:
                break
        self._fill(off + val)
        first, body = self.buf[0], self.buf[off:off + val]
        self.buf = self.buf[off + val:]
        return first >> 4, first & 15, body

    def expect(self, ptype):
        t, f, b = self.read()
        assert t == ptype, "expected packet type %d, got %d (%r)" % (ptype, t, b[:20])
        return f, b

    def closed(self, timeout=3.0):
        """True if the server closes the connection (after any packets) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self.read()
        except (Closed, ConnectionResetError):
            return True
        except socket.timeout:
            return False

    # ---- packets ----
    def connect(self, cid="", clean=True, keepalive=60, p=None, will=None, user=None, pw=None,
                level=None):
        flags = (2 if clean else 0)
        payload = s(cid)
        if will:
            topic, msg, qos, retain, wprops = will
            flags |= 4 | qos << 3 | (32 if retain else 0)
            if self.v == 5:
                payload += props(wprops)
            payload += s(topic) + s(msg)
        if user is not None:
            flags |= 128
            payload += s(user)
        if pw is not None:
            flags |= 64
            payload += s(pw)
        name = s("MQTT")
        body = name + bytes([level or self.v, flags]) + struct.pack(">H", keepalive)
        if self.v == 5:
            body += props(p)
        self.send(packet(CONNECT, 0, body + payload))

    def connack(self):
        """Returns (session_present, reason, props)."""
        _, b = self.expect(CONNACK)
        pr = parse_props(b, 2)[0] if self.v == 5 and len(b) > 2 else {}
        return b[0] & 1, b[1], pr

    def connect_ok(self, cid="", **kw):
        self.connect(cid, **kw)
        sp, rc, pr = self.connack()
        assert rc == 0, "CONNACK reason 0x%02x" % rc
        return sp, pr

    def publish(self, topic, payload=b"", qos=0, pid=0, retain=False, dup=False, p=None):
        if isinstance(payload, str):
            payload = payload.encode()
        body = s(topic)
        if qos:
            body += struct.pack(">H", pid)
        if self.v == 5:
            body += props(p)
        self.send(packet(PUBLISH, (8 if dup else 0) | qos << 1 | (1 if retain else 0),
                         body + payload))

    def ack(self, ptype, pid, reason=None):
        body = struct.pack(">H", pid)
        if reason is not None and self.v == 5:
            body += bytes([reason])
        self.send(packet(ptype, 2 if ptype == PUBREL else 0, body))

    def read_ack(self, ptype):
        """Returns (pid, reason)."""
        _, b = self.expect(ptype)
        return struct.unpack_from(">H", b)[0], (b[2] if len(b) > 2 else 0)

    def subscribe(self, pid, subs, p=None):
        """subs: list of (filter, options byte)."""
        body = struct.pack(">H", pid)
        if self.v == 5:
            body += props(p)
        for f, o in subs:
            body += s(f) + bytes([o])
        self.send(packet(SUBSCRIBE, 2, body))

    def suback(self):
        _, b = self.expect(SUBACK)
        off = 2
        pr = {}
        if self.v == 5:
            pr, off = parse_props(b, 2)
        return struct.unpack_from(">H", b)[0], list(b[off:]), pr

    def sub_ok(self, filt, opts=1, pid=1, p=None):
        self.subscribe(pid, [(filt, opts)], p)
        _, codes, _ = self.suback()
        assert codes[0] < 0x80, "SUBACK 0x%02x" % codes[0]

    def unsubscribe(self, pid, filters):
        body = struct.pack(">H", pid)
        if self.v == 5:
            body += props(None)
        for f in filters:
            body += s(f)
        self.send(packet(UNSUBSCRIBE, 2, body))

    def read_publish(self):
        """Returns a dict: topic, payload, qos, retain, dup, pid, props."""
        f, b = self.expect(PUBLISH)
        ln = struct.unpack_from(">H", b)[0]
        topic = b[2:2 + ln].decode()
        off = 2 + ln
        qos = f >> 1 & 3
        pid = 0
        if qos:
            pid = struct.unpack_from(">H", b, off)[0]
            off += 2
        pr = {}
        if self.v == 5:
            pr, off = parse_props(b, off)
        return {"topic": topic, "payload": b[off:], "qos": qos, "retain": bool(f & 1),
                "dup": bool(f & 8), "pid": pid, "props": pr}

    def disconnect(self, reason=0, p=None):
        body = b""
        if self.v == 5 and (reason or p):
            body = bytes([reason]) + props(p)
        self.send(packet(DISCONNECT, 0, body))

    def nothing(self, timeout=0.5):
        """True if no packet arrives within timeout."""
        self.sock.settimeout(timeout)
        try:
            self.read()
            return False
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(5.0)
