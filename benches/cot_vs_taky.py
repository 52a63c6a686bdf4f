#!/usr/bin/env python3
"""CoT fan-out: cmcop against taky (a small Python TAK server), same clients, same load.

One sender and N subscribers connect over plain TCP; the sender sends M incident markers
(`a-u-G`, a new uid each) at a given rate; every subscriber records when each marker arrives.
The script prints delivery latency (send → arrival at a subscriber) percentiles and the
delivered rate for each server.

The two do different work, and the numbers should be read that way: taky routes each event to
the other clients as it came; cmcop validates it, commits it durably to its event log (SQLite,
synchronous=FULL, group commit), applies it to the picture and renders it through policy for each
subscriber. A fair reading is "what the durable, filtered write path costs against a plain
router", not "which is faster".

Usage (needs `pip install taky`; run on the loopback only):

    cargo build --release
    python3 benches/cot_vs_taky.py --cmcop target/release/cmcop --subscribers 20 --events 500

Every loop is bounded in count and time, and the servers started here are stopped at the end.
"""

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def marker(uid, now):
    t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".000Z"
    stale = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now + 3600)) + ".000Z"
    return (
        f'<event version="2.0" uid="{uid}" type="a-u-G" how="h-g-i-g-o" time="{t}" '
        f'start="{t}" stale="{stale}"><point lat="36.3" lon="43.2" hae="0" ce="10" le="10"/>'
        f'<detail><contact callsign="bench"/><remarks>benchmark marker</remarks></detail>'
        f"</event>\n"
    ).encode()


UID_RE = re.compile(rb'uid="(bench-[^"]+)"')


async def wait_port(port, deadline):
    while time.monotonic() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


async def subscriber(port, arrivals, expected, deadline, ready):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ready.set_result(None)
    seen = set()
    buf = b""
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            if not chunk:
                break
            now = time.monotonic()
            buf += chunk
            while b"</event>" in buf:
                ev, buf = buf.split(b"</event>", 1)
                m = UID_RE.search(ev)
                if m and b'type="t-x-d-d"' not in ev and m.group(1) not in seen:
                    seen.add(m.group(1))
                    arrivals.append((m.group(1), now))
    finally:
        writer.close()


async def run_load(port, subscribers, events, rate, timeout):
    deadline = time.monotonic() + timeout
    await wait_port(port, deadline)
    arrivals = []
    readies = [asyncio.get_running_loop().create_future() for _ in range(subscribers)]
    tasks = [
        asyncio.create_task(subscriber(port, arrivals, events, deadline, r)) for r in readies
    ]
    await asyncio.gather(*readies)
    await asyncio.sleep(1.0)  # Let every subscription settle before the first event.
    sender_reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def drain_sender():
        # The sender reads (and drops) what it is sent, so the server never waits on it.
        while await sender_reader.read(65536):
            pass

    drain = asyncio.create_task(drain_sender())
    sent = {}
    gap = 1.0 / rate if rate > 0 else 0
    start = time.monotonic()
    for i in range(events):
        uid = f"bench-{os.getpid()}-{i}".encode()
        sent[uid] = time.monotonic()
        writer.write(marker(uid.decode(), time.time()))
        await writer.drain()
        if gap:
            await asyncio.sleep(max(0.0, start + (i + 1) * gap - time.monotonic()))
    await asyncio.gather(*tasks)
    writer.close()
    drain.cancel()
    lat = [(t - sent[u]) * 1000 for u, t in arrivals if u in sent]
    elapsed = max(t for _, t in arrivals) - start if arrivals else 0
    return lat, elapsed


def report(name, lat, elapsed, subscribers, events):
    want = subscribers * events
    if not lat:
        print(f"{name:6} nothing delivered")
        return
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print(
        f"{name:6} delivered {len(lat)}/{want}  "
        f"p50 {q(0.50):7.1f} ms  p90 {q(0.90):7.1f} ms  p99 {q(0.99):7.1f} ms  "
        f"max {lat[-1]:7.1f} ms  mean {statistics.mean(lat):7.1f} ms  "
        f"rate {len(lat) / elapsed if elapsed else 0:8.0f} deliveries/s"
    )


def start_cmcop(binary, tmp):
    port = free_port()
    cfg = os.path.join(tmp, "cmcop.toml")
    with open(cfg, "w", encoding="utf8") as f:
        f.write(
            f'[http]\naddr = "127.0.0.1:0"\n[database]\nurl = "sqlite://{tmp}/cmcop.db"\n'
            f'[log]\nfilter = "warn"\n'
            f'[cot]\naddr = "127.0.0.1:{port}"\nrole = "military_liaison"\norg = "ARMY"\n'
            f"protobuf = false\n"
        )
    proc = subprocess.Popen([binary, "serve", "--config", cfg], cwd=tmp)
    return proc, port


def start_taky(tmp):
    port = free_port()
    cfg = os.path.join(tmp, "taky.conf")
    with open(cfg, "w", encoding="utf8") as f:
        f.write(
            f"[taky]\nbind_ip = 127.0.0.1\nroot_dir = {tmp}\n"
            f"[cot_server]\nport = {port}\n[ssl]\nenabled = false\n"
            f"[dp_server]\nupload_path = {tmp}/dp-user\n"
        )
    taky = shutil.which("taky")
    if not taky:
        raise SystemExit("taky is not installed: pip install taky")
    proc = subprocess.Popen([taky, "-c", cfg, "-l", "warning"], cwd=tmp)
    return proc, port


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cmcop", help="the cmcop binary (skip cmcop when absent)")
    ap.add_argument("--no-taky", action="store_true", help="skip taky")
    ap.add_argument("--subscribers", type=int, default=20)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--rate", type=float, default=200.0, help="events per second (0: flat out)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per server, at most")
    args = ap.parse_args()
    runs = []
    if args.cmcop:
        runs.append(("cmcop", lambda tmp: start_cmcop(os.path.abspath(args.cmcop), tmp)))
    if not args.no_taky:
        runs.append(("taky", start_taky))
    print(
        f"{args.subscribers} subscribers, {args.events} events at "
        f"{args.rate or 'max'}/s, plain TCP, XML"
    )
    for name, start in runs:
        with tempfile.TemporaryDirectory() as tmp:
            proc, port = start(tmp)
            try:
                lat, elapsed = asyncio.run(
                    run_load(port, args.subscribers, args.events, args.rate, args.timeout)
                )
            finally:
                stop(proc)
            report(name, lat, elapsed, args.subscribers, args.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
