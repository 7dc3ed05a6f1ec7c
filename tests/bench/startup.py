#!/usr/bin/env python3
"""Start-up and stop time of psi-syslogd.

Usage: startup.py RUNS SOCKET BINARY [ARGS...]

Binds SOCKET, then RUNS times: takes CLOCK_MONOTONIC, spawns BINARY --socket SOCKET ARGS
(posix_spawn, so the figure includes process creation), waits for the datagram that
carries `event=start` and the child's own `[PID]:`, takes the clock again, and sends the
child SIGTERM. Prints `MEDIAN_MS MIN_MS MAX_MS` of the start-ups and flushes it; then
reaps the children in the order they exit and prints `MEDIAN_MS MAX_MS` of the time from
SIGTERM to exit. With many triggers the kernel takes seconds to close them (one RCU
grace period per trigger): the caller can go on with the first line meanwhile.
"""

import os
import signal
import socket
import statistics
import sys
import time


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: startup.py RUNS SOCKET BINARY [ARGS...]")
    runs, path, binary, args = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    silence = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    stopped_at, starts = {}, []
    try:
        for _ in range(runs):
            start = time.monotonic_ns()
            pid = os.posix_spawn(binary, [binary, "--socket", path, *args], os.environ,
                                 file_actions=silence)
            stopped_at[pid] = None
            mark = b"[%d]: event=start" % pid
            while mark not in sock.recv(4096):
                pass
            starts.append((time.monotonic_ns() - start) / 1e6)
            os.kill(pid, signal.SIGTERM)
            stopped_at[pid] = time.monotonic_ns()
        print("%.3f %.3f %.3f" % (statistics.median(starts), min(starts), max(starts)), flush=True)
    finally:
        for pid, when in stopped_at.items():
            if when is None:
                os.kill(pid, signal.SIGTERM)
                stopped_at[pid] = time.monotonic_ns()
        exits = []
        while len(exits) < len(stopped_at):
            pid, _ = os.waitpid(-1, 0)
            exits.append((time.monotonic_ns() - stopped_at[pid]) / 1e6)
        sock.close()
        os.unlink(path)
    print("%.1f %.1f" % (statistics.median(exits), max(exits)), flush=True)


if __name__ == "__main__":
    main()
