#!/usr/bin/env python3
"""A syslog receiver for the footprint benchmark: one unix datagram socket.

Usage: receiver.py SOCKET LOG

Binds SOCKET and appends every datagram to LOG as `REALTIME_NS DATAGRAM`, one per line,
the time taken when recv returned. The file is flushed at most every 50 ms rather than
per datagram, so that the receiver is never what falls behind when the daemon logs tens
of thousands of lines a second; readers of LOG see lines at most 50 ms late. SIGTERM
flushes, removes SOCKET and exits 0.
"""

import os
import signal
import socket
import sys
import time

FLUSH_EVERY_NS = 50_000_000
# Deep enough for a burst of a few thousand lines while this process is off the CPU;
# the kernel doubles it and caps it at net.core.rmem_max.
RECEIVE_BUFFER = 8 << 20


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: receiver.py SOCKET LOG")
    path, log_path = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.bind(path)
    sock.settimeout(FLUSH_EVERY_NS / 1e9)
    log = open(log_path, "ab", buffering=1 << 20)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    last_flush = time.monotonic_ns()
    while not stopping:
        try:
            datagram = sock.recv(4096)
        except socket.timeout:
            datagram = None
        except InterruptedError:
            continue
        if datagram is not None:
            log.write(b"%d %s\n" % (time.time_ns(), datagram.replace(b"\n", b"\\n")))
        now = time.monotonic_ns()
        if now - last_flush >= FLUSH_EVERY_NS:
            log.flush()
            last_flush = now
    log.close()
    os.unlink(path)


if __name__ == "__main__":
    main()
