#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP proxy between a client and an HTTP server that injects network
faults at chosen points (the S3 tests, tests/integration/s3-faults.sh).

    faultproxy.py LISTEN_PORT_FILE TARGET_HOST TARGET_PORT CONTROL_FILE LOG_FILE

It listens on 127.0.0.1 (an ephemeral port, written to LISTEN_PORT_FILE) and
reads its mode from CONTROL_FILE (one line; re-read whenever it changes):

    pass                      forward everything
    delay MS                  hold every chunk in either direction MS ms
    reset METHOD N [COUNT]    reset the connection (RST) when the N-th request
                              with METHOD (PUT, GET, DELETE, POST, HEAD, or ANY)
                              counted from the mode change arrives, before it
                              reaches the server; COUNT times (default 1), each
                              N requests later
    cut METHOD N              from the N-th METHOD request on, the network is
                              down: every connection is reset and new ones are
                              reset at once, until the mode changes

Every fault is logged as one line in LOG_FILE ("RESET PUT /bucket/key",
"CUT DELETE /bucket/key", "REFUSED"), so a test can assert that it happened;
each request line seen is logged as "REQ METHOD PATH".  Requests are found
by their request line at the start of what the client sends after the
previous answer began (HTTP/1.1 without pipelining, as libcurl sends).
"""
import asyncio
import os
import re
import socket
import struct
import sys

REQ_RE = re.compile(rb"^(GET|PUT|POST|DELETE|HEAD) (\S+) HTTP/1\.[01]\r\n")


class State:
    def __init__(self, control, log):
        self.control = control
        self.log = open(log, "a", buffering=1)
        self.mtime = None
        self.mode = ["pass"]
        self.count = 0  # requests matching the mode's METHOD since the mode changed
        self.resets_done = 0
        self.cut = False
        self.writers = set()

    def refresh(self):
        try:
            st = os.stat(self.control)
        except FileNotFoundError:
            return
        if st.st_mtime_ns != self.mtime:
            self.mtime = st.st_mtime_ns
            with open(self.control) as f:
                words = f.read().split()
            self.mode = words or ["pass"]
            self.count = 0
            self.resets_done = 0
            self.cut = False
            self.log.write("MODE %s\n" % " ".join(self.mode))

    def delay(self):
        self.refresh()
        if self.mode[0] == "delay":
            return int(self.mode[1]) / 1000.0
        return 0

    def on_request(self, method, path):
        """True: let it through; False: fault (the caller resets)."""
        self.refresh()
        self.log.write("REQ %s %s\n" % (method, path))
        if self.cut:
            self.log.write("CUT %s %s\n" % (method, path))
            return False
        kind = self.mode[0]
        if kind not in ("reset", "cut"):
            return True
        want, n = self.mode[1], int(self.mode[2])
        if want != "ANY" and want != method:
            return True
        self.count += 1
        if kind == "reset":
            times = int(self.mode[3]) if len(self.mode) > 3 else 1
            if self.resets_done < times and self.count == n * (self.resets_done + 1):
                self.resets_done += 1
                self.log.write("RESET %s %s\n" % (method, path))
                return False
            return True
        if self.count >= n:
            self.cut = True
            self.log.write("CUT %s %s\n" % (method, path))
            for w in list(self.writers):
                hard_close(w)
            return False
        return True


def hard_close(writer):
    """Close with RST (SO_LINGER 0), as a network failure looks to the peer."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    except OSError:
        pass


async def handle(creader, cwriter, state, host, port):
    state.refresh()
    if state.cut:
        state.log.write("REFUSED\n")
        hard_close(cwriter)
        return
    try:
        sreader, swriter = await asyncio.open_connection(host, port)
    except OSError:
        hard_close(cwriter)
        return
    state.writers.add(cwriter)
    state.writers.add(swriter)

    async def client_to_server():
        # each request starts after the server began its previous answer
        try:
            while True:
                data = await creader.read(65536)
                if not data:
                    break
                d = state.delay()
                if d:
                    await asyncio.sleep(d)
                if answered[0]:
                    answered[0] = False
                    m = REQ_RE.match(data)
                    if m and not state.on_request(m.group(1).decode(), m.group(2).decode(errors="replace")):
                        hard_close(swriter)
                        hard_close(cwriter)
                        return
                if state.cut:
                    hard_close(swriter)
                    hard_close(cwriter)
                    return
                swriter.write(data)
                await swriter.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                swriter.close()
            except OSError:
                pass

    async def server_to_client():
        try:
            while True:
                data = await sreader.read(65536)
                if not data:
                    break
                d = state.delay()
                if d:
                    await asyncio.sleep(d)
                if data.startswith(b"HTTP/1.1 100"):
                    pass  # 100 Continue: the body of the same request follows
                else:
                    answered[0] = True
                cwriter.write(data)
                await cwriter.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                cwriter.close()
            except OSError:
                pass

    answered = [True]
    await asyncio.gather(client_to_server(), server_to_client())
    state.writers.discard(cwriter)
    state.writers.discard(swriter)


async def main():
    port_file, host, port, control, log = sys.argv[1:6]
    state = State(control, log)
    server = await asyncio.start_server(lambda r, w: handle(r, w, state, host, int(port)), "127.0.0.1", 0)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.sockets[0].getsockname()[1])
    os.rename(tmp, port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
