#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Small LMTP (RFC 2033) client for mstored's tests and benchmark.

  deliver --socket PATH --from ADDR --rcpt ADDR... --file MSG
      one transaction; prints "ADDR CODE TEXT" per recipient after DATA
      (and for recipients refused at RCPT); exit 0 if all were 250.
  raw --socket PATH
      sends stdin as is, prints every reply line until the server closes
      or stops answering.
  load --socket PATH --clients N --messages M --size BYTES --rcpt FMT
       [--ack-log FILE] [--seconds S] [--pause S]
      N concurrent sessions, each delivering M messages (or for S seconds)
      to FMT.format(client) (e.g. 'user{}@bench'); message bodies are
      deterministic (make_message) so tests can rebuild them; every
      acknowledged message is appended to the ack log as "ADDR CLIENT SEQ".
      Prints "deliveries N seconds S rate R".
  make --client C --seq I --size BYTES
      prints the message load would send (for byte-for-byte checks).
"""
import argparse
import socket
import sys
import threading
import time


def make_message(client, seq, size):
    head = ("From: load{c}@bench\r\nTo: rcpt@bench\r\nSubject: load {c}-{s}\r\n"
            "Message-ID: <{c}.{s}@bench>\r\n\r\n").format(c=client, s=seq).encode()
    line = ("client {} seq {} ".format(client, seq) + "x" * 60)[:70].encode() + b"\r\n"
    body = bytearray()
    # a leading dot exercises dot-stuffing in every message
    body += b".dot line\r\n"
    while len(head) + len(body) < size:
        body += line
    return bytes(head + body)  # whole lines: ends with CRLF


class Lmtp:
    def __init__(self, path, timeout=120):
        if path.startswith("tcp:"):
            host, port = path[4:].rsplit(":", 1)
            self.s = socket.create_connection((host, int(port)), timeout=timeout)
        else:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(timeout)
            self.s.connect(path)
        self.buf = b""
        code, _ = self.reply()
        if code != 220:
            raise IOError("greeting %d" % code)

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("server closed the connection")
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return l.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if len(l) < 4 or l[3] != "-":
                break
        return int(lines[-1][:3]), lines[-1][4:]

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()

    def lhlo(self):
        return self.cmd("LHLO client.test")

    def transaction(self, sender, rcpts, data):
        """Returns [(rcpt, code, text)]: RCPT refusals, then per-recipient DATA replies."""
        out = []
        code, text = self.cmd("MAIL FROM:<%s>" % sender)
        if code != 250:
            return [(r, code, text) for r in rcpts]
        accepted = []
        for r in rcpts:
            code, text = self.cmd("RCPT TO:<%s>" % r)
            if code == 250:
                accepted.append(r)
            else:
                out.append((r, code, text))
        if not accepted:
            self.cmd("RSET")
            return out
        code, text = self.cmd("DATA")
        if code != 354:
            return out + [(r, code, text) for r in accepted]
        stuffed = data.replace(b"\r\n.", b"\r\n..")
        if stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        self.s.sendall(stuffed + b".\r\n")
        for r in accepted:
            code, text = self.reply()
            out.append((r, code, text))
        return out

    def close(self):
        try:
            self.cmd("QUIT")
        except Exception:
            pass
        self.s.close()


def cmd_deliver(a):
    data = open(a.file, "rb").read() if a.file != "-" else sys.stdin.buffer.read()
    c = Lmtp(a.socket)
    c.lhlo()
    res = c.transaction(a.sender, a.rcpt, data)
    c.close()
    ok = True
    for r, code, text in res:
        print(r, code, text)
        ok = ok and code == 250
    return 0 if ok else 1


def cmd_raw(a):
    c = Lmtp(a.socket, timeout=5)
    c.s.sendall(sys.stdin.buffer.read())
    try:
        while True:
            print(c.line())
    except (EOFError, socket.timeout, ConnectionResetError):
        pass
    return 0


def cmd_load(a):
    lock = threading.Lock()
    ack = open(a.ack_log, "a") if a.ack_log else None
    counts = [0] * a.clients
    errors = []
    deadline = time.time() + a.seconds if a.seconds else None

    def worker(cl):
        rcpt = a.rcpt.format(cl)
        try:
            c = Lmtp(a.socket)
            c.lhlo()
            seq = 0
            while True:
                if a.messages and seq >= a.messages:
                    break
                if deadline and time.time() >= deadline:
                    break
                res = c.transaction("load%d@bench" % cl, [rcpt], make_message(cl, seq, a.size))
                if res[0][1] != 250:
                    raise IOError("%s: %d %s" % (rcpt, res[0][1], res[0][2]))
                counts[cl] += 1
                if ack:
                    with lock:
                        ack.write("%s %d %d\n" % (rcpt, cl, seq))
                        ack.flush()
                seq += 1
                if a.pause:
                    time.sleep(a.pause)
            c.close()
        except Exception as e:  # the test kills the server on purpose
            with lock:
                errors.append("client %d: %s" % (cl, e))

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.time() - t0
    n = sum(counts)
    print("deliveries %d seconds %.3f rate %.1f" % (n, dt, n / dt if dt > 0 else 0))
    for e in errors[:5]:
        print("error:", e, file=sys.stderr)
    return 1 if errors and not a.tolerate_errors else 0


def cmd_make(a):
    sys.stdout.buffer.write(make_message(a.client, a.seq, a.size))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deliver")
    d.add_argument("--socket", required=True)
    d.add_argument("--from", dest="sender", default="sender@test")
    d.add_argument("--rcpt", action="append", required=True)
    d.add_argument("--file", default="-")
    r = sub.add_parser("raw")
    r.add_argument("--socket", required=True)
    l = sub.add_parser("load")
    l.add_argument("--socket", required=True)
    l.add_argument("--clients", type=int, default=1)
    l.add_argument("--messages", type=int, default=0)
    l.add_argument("--seconds", type=float, default=0)
    l.add_argument("--size", type=int, default=10240)
    l.add_argument("--rcpt", required=True)
    l.add_argument("--ack-log")
    l.add_argument("--tolerate-errors", action="store_true")
    l.add_argument("--pause", type=float, default=0, help="seconds between messages of a client")
    m = sub.add_parser("make")
    m.add_argument("--client", type=int, required=True)
    m.add_argument("--seq", type=int, required=True)
    m.add_argument("--size", type=int, default=10240)
    a = p.parse_args()
    return {"deliver": cmd_deliver, "raw": cmd_raw, "load": cmd_load, "make": cmd_make}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
