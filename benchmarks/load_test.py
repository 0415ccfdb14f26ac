"""Load test of `munch serve`: 1, 8 and 32 concurrent clients posting abstracts to a server on 127.0.0.1.

    python3 benchmarks/load_test.py --model DIR [--corpus bc5cdr-chem] [--seconds 10] [--threads 1]

Starts `munch serve --model DIR --threads N` on a free port of 127.0.0.1 as a child process,
then for each number of clients runs that many clients (asyncio + httpx), each posting one
abstract after another, for `--seconds` or until `--max-requests` answers, whichever comes
first. An "abstract" is `--sentences` consecutive test sentences of `--corpus`, tokens joined by
spaces (the test files keep each abstract's sentences together). Reports requests/s,
sentences/s, p50/p99 latency, errors (any answer but 200), the server's resident memory (VmRSS)
before and after each level, and the requests tagged per batch (the server's /health). First,
for comparison, the same abstracts tagged in this process by Tagger.predict in batches of 32
abstracts: the batch tagging speed the server should approach. The clients run on the same
machine as the server, and take CPU from it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import torch
from processes import free_port, status_mb

from munchables.data.corpus import default_data_dir, load_corpus
from munchables.tagging.tagger import Tagger


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


def abstracts(corpus: str, per: int, data_dir: str | None) -> list[str]:
    sentences = load_corpus(corpus, default_data_dir(data_dir)).split("test")
    return [" ".join(" ".join(s.tokens) for s in sentences[i : i + per]) for i in range(0, len(sentences) - per + 1, per)]


def batch_speed(model: str, texts: list[str], threads: int, seconds: float) -> float:
    """Sentences per second of Tagger.predict on groups of 32 abstracts, in this process."""
    torch.set_num_threads(threads)
    tagger = Tagger.load(model)
    sentences, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        group = [texts[(i + k) % len(texts)] for k in range(32)]
        sentences += sum(t.sentences for t in tagger.stream(group))
        i += 32
    return sentences / (time.perf_counter() - start)


async def level(url: str, texts: list[str], clients: int, seconds: float, max_requests: int) -> dict:
    latencies, sentences, errors = [], 0, 0
    deadline = time.perf_counter() + seconds
    sent = 0

    async def client(c: int, http: httpx.AsyncClient):
        nonlocal sentences, errors, sent
        i = c
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            t0 = time.perf_counter()
            try:
                reply = await http.post(url + "tag", json={"text": texts[i % len(texts)]})
                ok = reply.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            if ok:
                sentences += reply.json()["sentences"]
            else:
                errors += 1
            i += clients

    start = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(c, http) for c in range(clients)))
    wall = time.perf_counter() - start
    latencies.sort()
    return {"clients": clients, "requests": len(latencies), "seconds": round(wall, 1),
            "requests_per_s": round(len(latencies) / wall, 1), "sentences_per_s": round(sentences / wall),
            "p50_ms": round(1000 * statistics.median(latencies)),
            "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]),
            "errors": errors}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", default="bc5cdr-chem")
    ap.add_argument("--data-dir")
    ap.add_argument("--sentences", type=int, default=10, help="sentences per abstract")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=10, help="per level")
    ap.add_argument("--max-requests", type=int, default=5000, help="per level")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the server (and of the batch baseline)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    texts = abstracts(args.corpus, args.sentences, args.data_dir)
    baseline = batch_speed(args.model, texts, args.threads, args.seconds)
    print(f"{len(texts)} abstracts of {args.sentences} sentences; Tagger.predict in groups of 32, this process, "
          f"{args.threads} thread(s): {baseline:.0f} sentences/s", flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "munchables.cli", "-q", "serve", "--model", args.model,
                               "--port", str(port), "--threads", str(args.threads)], env=os.environ.copy())
    try:
        for _ in range(600):
            try:
                httpx.get(url + "health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(level(url, texts, 4, 2, 50))  # warm up: first calls allocate the buffers
        rows = []
        for clients in (int(c) for c in args.clients.split(",")):
            before, counts = rss_mb(server.pid), httpx.get(url + "health").json()["batching"]
            row = asyncio.run(level(url, texts, clients, args.seconds, args.max_requests))
            after = httpx.get(url + "health").json()["batching"]
            row.update(rss_start_mb=round(before), rss_end_mb=round(rss_mb(server.pid)), requests_per_batch=round(
                (after["requests"] - counts["requests"]) / max(1, after["batches"] - counts["batches"]), 1))
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.terminate()
        server.wait(30)
    print("\n| clients | requests | requests/s | sentences/s | p50 ms | p99 ms | errors | server RSS MB, start -> end "
          "| requests per batch |\n|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['requests']} | {r['requests_per_s']} | {r['sentences_per_s']:,} | {r['p50_ms']} "
              f"| {r['p99_ms']} | {r['errors']} | {r['rss_start_mb']} -> {r['rss_end_mb']} | {r['requests_per_batch']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline_sentences_per_s": round(baseline), "levels": rows}, indent=1))
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
