#!/usr/bin/env python3
"""A connection flood against a running simmimd, and how the API answers during it.

Opens CONNECTIONS TCP connections to the daemon from loopback addresses other than the probe's
(127.0.0.2 and up, PER_ADDRESS connections each): "idle" ones send nothing, "trickle" ones send
a request head one byte per second and never finish it. While they are open (and after
HOLD seconds of it), times GET /api/v1/health and an authenticated GET /api/v1/jobs from
127.0.0.1, PROBES times each. Prints one JSON object: the connections that got established, the
probes' latencies (seconds, null for a probe that got no answer within its timeout), and how
many of the flood's connections the daemon had closed by the end.

    flood.py --url http://127.0.0.1:PORT [--token T] [--connections 1000] [--mode idle|trickle|mixed]
             [--per-address 10] [--hold 3] [--probes 5] [--timeout 5]
"""
import argparse
import json
import resource
import socket
import time
import urllib.parse


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need + 64)) if hard != resource.RLIM_INFINITY else max(soft, need + 64)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def open_flood(host, port, count, per_address, timeout):
    conns = []
    for i in range(count):
        source = "127.0.%d.%d" % (((i // per_address) + 2) // 254, ((i // per_address) + 2) % 254 + 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.bind((source, 0))
            s.connect((host, port))
            s.setblocking(False)
            conns.append(s)
        except OSError:
            s.close()
    return conns


def probe(host, port, path, token, timeout):
    """One GET from 127.0.0.1; the seconds until a whole status line arrived, or None."""
    start = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind(("127.0.0.1", 0))
        s.connect((host, port))
        auth = "Authorization: Bearer %s\r\n" % token if token else ""
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n" % (path, host, auth)).encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            return None
        return time.monotonic() - start
    except OSError:
        return None
    finally:
        s.close()


def still_open(conns):
    """How many flood connections the daemon has not closed (a read returns EOF when it has)."""
    n = 0
    for s in conns:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue
            n += 1
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--mode", choices=["idle", "trickle", "mixed"], default="mixed")
    ap.add_argument("--per-address", type=int, default=10)
    ap.add_argument("--hold", type=float, default=3)
    ap.add_argument("--probes", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=5)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    host, port = u.hostname, u.port
    raise_fd_limit(a.connections + 16)
    conns = open_flood(host, port, a.connections, a.per_address, a.timeout)
    head = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10000
    trickling = [s for i, s in enumerate(conns)
                 if a.mode == "trickle" or (a.mode == "mixed" and i % 2 == 1)]
    sent = 0

    def trickle():  # the next byte of the head on each trickling connection
        nonlocal sent
        for s in trickling:
            try:
                s.send(head[sent:sent + 1])
            except OSError:
                pass
        sent += 1

    t_end = time.monotonic() + a.hold
    while time.monotonic() < t_end:  # one byte a second
        trickle()
        time.sleep(1)
    health, jobs = [], []
    for _ in range(a.probes):
        trickle()
        health.append(probe(host, port, "/api/v1/health", a.token, a.timeout))
        jobs.append(probe(host, port, "/api/v1/jobs?limit=1", a.token, a.timeout))
    answered = [x for x in health + jobs if x is not None]
    print(json.dumps({
        "mode": a.mode, "requested": a.connections, "established": len(conns),
        "addresses": (a.connections + a.per_address - 1) // a.per_address,
        "health_s": health, "jobs_s": jobs,
        "worst_s": max(answered) if len(answered) == len(health + jobs) else None,
        "still_open": still_open(conns),
    }))
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
