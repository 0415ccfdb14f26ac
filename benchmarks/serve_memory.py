"""Peak memory of `munch serve` under the worst requests a 1 MB body allows (issue 22.2).

    python3 benchmarks/serve_memory.py [--model DIR] [--cases a,b,...] [--limit-gb 8] [--out FILE.json]

For each request it starts a fresh `munch serve --model DIR --threads 1 --timeout 900` on a free
port of 127.0.0.1 (a child process, its address space capped at --limit-gb with RLIMIT_AS so that
a request asking for too much fails there instead of taking the machine's memory), reads the
server's peak resident memory (VmHWM in /proc/PID/status) once it answers /health, posts the one
request, and reads VmHWM again: the rise is what that request cost at its worst moment. The
requests (each body at most 1,000,000 bytes, the default --max-bytes):

    issue-7.9KB      the issue's request: a 5,000-letter word beside 600 distinct 9-letter words
    issue-27KB       the issue's abstract: ordinary words around a 10,000-letter DNA sequence
    huge-word        one word of 999,980 letters
    long-words       990 distinct words of 1,000 letters
    capped-words     15,000 distinct words of 65 letters (just past what the character model reads)
    short-words      110,000 distinct 8-letter words in one line without punctuation
    word-and-many    a 100,000-letter word beside 99,000 distinct 8-letter words (the old path's worst)
    documents        100 documents of 9,900 bytes of distinct words each
    nesting          100,000 levels of JSON arrays (refused: 400)
    abstracts        1 MB of bc5cdr-chem test and dev sentences in 100 documents (the everyday
                     request; needs ../shared/data)

Without --model, a model of the paper's sizes (ModelConfig's defaults: word 100, characters 25 and
25, hidden 256) is written with random weights over the vocabulary of bc5cdr-chem (or of a few
generated sentences when that corpus is absent): memory depends on the sizes, not on the weights.
Run from the repository root with PYTHONPATH=src (or with another checkout's src, to compare).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from processes import free_port, status_mb

MAX_BODY = 1_000_000


def dna(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def distinct_words(n: int, length: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(string.ascii_lowercase) for _ in range(length)) for _ in range(n)]


def text_body(text: str) -> bytes:
    return json.dumps({"text": text}).encode()


def real_abstracts() -> bytes | None:
    """bc5cdr-chem's test and dev sentences as 100 documents of consecutive sentences, up to 1 MB."""
    from munchables.data.corpus import default_data_dir, load_corpus

    try:
        corpus = load_corpus("bc5cdr-chem", default_data_dir(None))
    except Exception:  # noqa: BLE001  the corpus is optional
        return None
    texts = [" ".join(s.tokens) for s in corpus.test + corpus.dev]
    per = -(-len(texts) // 100)
    docs, size = [], 40
    for d in range(100):
        text = " ".join(texts[d * per : (d + 1) * per])
        if size + len(text) + 40 > MAX_BODY:
            text = text[: MAX_BODY - size - 40].rsplit(" ", 1)[0]
        docs.append({"id": str(d), "text": text})
        size += len(text) + 40
        if size >= MAX_BODY - 100:
            break
    return json.dumps({"documents": docs}).encode()


def cases() -> dict[str, callable]:
    """Case name -> a function making its body (made lazily: some are large)."""
    return {
        "issue-7.9KB": lambda: text_body(dna(5000) + " " + " ".join(distinct_words(290, 9)) + " ."),
        "issue-27KB": lambda: text_body(" ".join(distinct_words(900, 8)) + " the sequence " + dna(10_000)
                                        + " was cloned . " + " ".join(distinct_words(800, 8, seed=2)) + " ."),
        "huge-word": lambda: text_body(dna(MAX_BODY - 20)),
        "long-words": lambda: text_body(" ".join(distinct_words(990, 1000))),
        "capped-words": lambda: text_body(" ".join(distinct_words(15_000, 65))),
        "short-words": lambda: text_body(" ".join(distinct_words(110_000, 8))),
        "word-and-many": lambda: text_body(dna(100_000) + " " + " ".join(distinct_words(99_000, 8))),
        "documents": lambda: json.dumps({"documents": [{"id": str(d), "text": " ".join(distinct_words(1100, 8, seed=d))}
                                                       for d in range(100)]}).encode(),
        "nesting": lambda: b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "abstracts": real_abstracts,
    }


def default_model(directory: Path) -> Path:
    """A model of the paper's sizes with random weights (see the module docstring)."""
    import torch

    from munchables.data.corpus import Sentence, default_data_dir, load_corpus
    from munchables.data.vocab import build_vocabularies
    from munchables.model import ModelConfig, MultiTaskTagger
    from munchables.tagging.tagger import Tagger

    try:
        corpus = load_corpus("bc5cdr-chem", default_data_dir(None))
        name, train = corpus.name, corpus.train
    except Exception:  # noqa: BLE001
        name, train = "generated", [Sentence(tuple(distinct_words(12, 7, seed=i)), ("B-Chemical",) + ("O",) * 11)
                                    for i in range(500)]
    vocab = build_vocabularies({name: train})
    torch.manual_seed(0)
    model = MultiTaskTagger(ModelConfig(), len(vocab.words), len(vocab.chars), {name: len(vocab.tags[name])})
    Tagger(model, vocab, name, torch.device("cpu")).save(directory)
    return directory


def peak_mb(pid: int) -> float:
    return status_mb(pid, "VmHWM")


def post(url: str, body: bytes, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read(200).decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(200).decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:  # the server died (out of memory)
        return 0, str(e)


def measure(model: Path, body: bytes, limit_gb: float, timeout: float) -> dict:
    port = free_port()
    limit = int(limit_gb * 2 ** 30)

    def cap():  # in the child, before exec: its address space, so that a huge allocation fails there
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    server = subprocess.Popen([sys.executable, "-m", "munchables.cli", "-q", "serve", "--model", str(model),
                               "--port", str(port), "--threads", "1", "--timeout", str(timeout)],
                              preexec_fn=cap, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(1200):
            try:
                urllib.request.urlopen(url + "health", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"the server did not start: {server.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.1)
        before = peak_mb(server.pid)
        t0 = time.perf_counter()
        status, answer = post(url + "tag", body, timeout + 60)
        seconds = time.perf_counter() - t0
        after = peak_mb(server.pid) if server.poll() is None else float("nan")
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"bytes": len(body), "status": status, "seconds": round(seconds, 1), "peak_before_mb": round(before),
            "peak_after_mb": round(after) if after == after else None,
            "rise_mb": round(after - before) if after == after else None,
            "answer": answer[:120] if status != 200 else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a trained model's directory (default: the paper's sizes, random weights)")
    ap.add_argument("--cases", default=",".join(cases()), help="comma-separated; default: all")
    ap.add_argument("--limit-gb", type=float, default=8.0, help="address-space limit of the server (RLIMIT_AS)")
    ap.add_argument("--timeout", type=float, default=900.0, help="the server's --timeout, seconds")
    ap.add_argument("--out", help="also write the rows as JSON to this file")
    args = ap.parse_args()

    made = cases()
    unknown = [c for c in args.cases.split(",") if c not in made]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(made)}")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else default_model(Path(tmp) / "model")
        rows = []
        print("| request | body bytes | status | seconds | server peak RSS MB before -> after | rise MB |")
        print("|---|---:|---:|---:|---|---:|")
        for name in args.cases.split(","):
            body = made[name]()
            if body is None:
                print(f"| {name} | skipped: no bc5cdr-chem in the data directory |||||")
                continue
            assert len(body) <= MAX_BODY or name == "nesting", (name, len(body))
            row = {"request": name, **measure(model, body, args.limit_gb, args.timeout)}
            rows.append(row)
            print(f"| {name} | {row['bytes']:,} | {row['status']} | {row['seconds']} | {row['peak_before_mb']} -> "
                  f"{row['peak_after_mb']} | {row['rise_mb']} |" + (f" {row['answer']}" if row["answer"] else ""),
                  flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
