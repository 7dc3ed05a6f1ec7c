#!/usr/bin/env python3
"""The peer approach the benchmark compares against: psi-notify's polling loop.

Usage: peer_poll.py SOCKET INTERVAL_S

Every INTERVAL_S seconds (psi-notify's default `update 5`) re-reads /proc/pressure/cpu,
memory and io and sends one datagram to SOCKET when a `some avg10` rises above
psi-notify's default thresholds (cpu 50, memory 10, io 10), once per episode. Each read
is open, read, close, as psi-notify does with fopen/fread/fclose: about 10 system calls
and one wake-up per interval whether or not anything happens. Written in Python, so its
memory is the interpreter's, not the approach's; the benchmark compares only what the
approach implies (system calls, wake-ups, time to notice).
"""

import os
import socket
import sys
import time

THRESHOLDS = {"cpu": 50.0, "memory": 10.0, "io": 10.0}


def some_avg10(resource):
    fd = os.open("/proc/pressure/" + resource, os.O_RDONLY | os.O_CLOEXEC)
    try:
        text = os.read(fd, 256)
    finally:
        os.close(fd)
    fields = text.split(b"\n", 1)[0].split()
    return float(fields[1].split(b"=", 1)[1])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: peer_poll.py SOCKET INTERVAL_S")
    path, interval = sys.argv[1], float(sys.argv[2])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.connect(path)
    alerting = set()
    while True:
        for resource, threshold in THRESHOLDS.items():
            value = some_avg10(resource)
            if value > threshold and resource not in alerting:
                alerting.add(resource)
                sock.send(b"peer-poll: event=pressure resource=%s avg10=%.2f" % (resource.encode(), value))
            elif value <= threshold:
                alerting.discard(resource)
        time.sleep(interval)


if __name__ == "__main__":
    main()
