"""A small HTTP/1.1 load generator: ``connections`` concurrent clients for ``seconds``, each
sending a request, waiting for the whole answer, and sending the next (closed loop). It
reconnects when the server closes the connection (gunicorn's sync workers do, after every
answer). Written on asyncio streams so one process drives dozens of connections; run it in
its own process so that it does not share an interpreter with anything else. It runs on
uvloop where installed (``make install`` does): the generator shares the machine's two cores
with the server, and the stock event loop spends about 40% more CPU per request (a trivial
endpoint measured 3,500 requests/s through it against 4,900 through uvloop).

    python -m bench.loadgen --port 8000 --connections 32 --seconds 5 --kind balance ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _client(host: str, port: int, deadline: float, make: Callable[[int], bytes],
                  first: int, step: int, latencies: list[float], statuses: dict[int, int]
                  ) -> None:
    n = first
    reader = writer = None
    while time.perf_counter() < deadline:
        if writer is None:
            reader, writer = await asyncio.open_connection(host, port)
        request = make(n)
        n += step
        start = time.perf_counter()
        writer.write(request)
        assert reader is not None
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        statuses[status] = statuses.get(status, 0) + 1
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def run(host: str, port: int, connections: int, seconds: float,
        make: Callable[[int], bytes]) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def main() -> float:
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(*(_client(host, port, deadline, make, i, connections, latencies,
                                       statuses) for i in range(connections)))
        return time.perf_counter() - start

    try:
        import uvloop
    except ImportError:  # the stock loop: slower, the figures a little lower
        elapsed = asyncio.run(main())
    else:
        elapsed = uvloop.run(main())
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "statuses": {str(k): v for k, v in statuses.items()}}


_EXPECTED_RATE = {"purchase": 2_000, "balance": 8_000}  # a second, above what this machine does


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kind", choices=["purchase", "balance"], required=True)
    parser.add_argument("--program", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--members", required=True, help="a file of member ids, one a line")
    parser.add_argument("--tag", default="http")
    args = parser.parse_args()
    with open(args.members) as file:
        members = file.read().split()
    headers = {"Authorization": f"Bearer {args.key}"}
    rng = random.Random(args.tag)
    if args.kind == "balance":
        def make(n: int) -> bytes:
            return _request("GET", f"/v1/programs/{args.program}/members/"
                                   f"{rng.choice(members)}/balance", headers)
    else:
        from bench.catalogue import CHANNELS, STORES, basket_lines, purchase_body

        def make(n: int) -> bytes:
            body = purchase_body(rng.choice(members), f"{args.tag}-{n}", _an_hour_ago,
                                 rng.choice(CHANNELS), rng.choice(STORES), basket_lines(rng),
                                 source="http")
            return _request("POST", f"/v1/programs/{args.program}/purchases", headers,
                            json.dumps(body).encode())
    from datetime import UTC, datetime, timedelta

    _an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    # The requests are made before the clock starts (more than the run is expected to send;
    # any beyond are made as they are sent): at one connection the time spent making the next
    # body would count against the server's rate.
    made = [make(n) for n in range(int(args.seconds * _EXPECTED_RATE[args.kind]))]
    result = run(args.host, args.port, args.connections, args.seconds,
                 lambda n: made[n] if n < len(made) else make(n))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
