#!/usr/bin/env python3
"""Walk the README top to bottom on a fresh clone, as a new user would, and fail on the first error.

    python3 scripts/readme_walk.py                  # clone HEAD into a temp dir, venv --system-site-packages, shrunk
    python3 scripts/readme_walk.py --venv fresh     # a venv without the system's packages: the whole install
    python3 scripts/readme_walk.py --as-written     # no shrinking: the README's own sizes (hours on a CPU)
    python3 scripts/readme_walk.py --with-tests     # also the test suite of the set-up block (what .ci/run runs)

Every ```bash block of README.md runs in order, in one `bash -euo pipefail` per block, in the
clone's root; ```python blocks run with the venv's python. Nothing but the README's own commands
runs, so a block that uses what no earlier block made fails here as it would for a user.

Two ways to set up (both clone the committed HEAD, never the uncommitted work tree):
  --venv system (default): `python3 -m venv --system-site-packages`, so the README's
      `pip install torch==2.13.0 -e .` finds torch and the extras installed and only installs
      munchables itself from the clone (a minute). What a user with the dependencies has.
  --venv fresh: a bare venv, so pip installs everything the README names (torch included: a
      local wheel or a download of GBs). What a new machine does.

Corpora come from --data-dir (default: $MUNCHABLES_DATA, else ../shared/data beside this
repository), passed to the README's commands as $MUNCHABLES_DATA, which the README documents.

Lines are marked in the README where they cannot run here; the walk skips them with a message:
  # [internet]   downloads (corpora fetch, hub models)
  # [mirror]     needs a local mirror: run with --mirror DIR (the corpora land in a temp data dir)
  # [gpu]        a CUDA device and hours
  # [cluster]    a Ray cluster
  # [elsewhere]  needs a file made on another machine (the README says which)
  # [long]       hours of training: `munch reproduce` lines run with --status added (trains nothing,
                 prints what is done and left); other commands are skipped

Shrinking (unless --as-written) goes only through flags the README documents, by this table,
applied to each command (continuation lines joined first); lines naming runs/evidence stay as
written (their point is the committed store's exact trial keys):
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (which commands, pattern, replacement): the shrink table, in order. `{port}` is a free port.
SHRINK: list[tuple[str, str, str]] = [
    # training: 100 target sentences, one epoch, a 16-unit BiLSTM; auxiliary corpora cut too
    (r"munch train|^Q=", r"--max-epochs \d+", "--max-epochs 1"),
    (r"munch train .*--resume", r"--max-epochs \d+", "--max-epochs 2"),  # extending a finished run: one epoch more
    (r"munch train|^Q=", r"--train-limit \d+", "--train-limit 100"),
    (r"munch train|^Q=", r"--hidden \d+", "--hidden 16"),
    (r"munch train|^Q=", r" --aux-whole", ""),
    (r"munch train .*--target", r"^(?!.*--train-limit)(.*)$", r"\1 --train-limit 100"),
    (r"munch train .*--target", r"^(?!.*--max-epochs)(.*)$", r"\1 --max-epochs 1"),
    (r"munch train .*--target", r"^(?!.*--hidden)(.*)$", r"\1 --hidden 16"),
    # character language models and vectors: tiny, one epoch, on the CPU
    (r"munch charlm", r"--hidden \d+", "--hidden 16"),
    (r"munch charlm", r"--epochs \d+", "--epochs 1"),
    (r"munch vectors", r"--dim \d+", "--dim 16 --buckets 20000 --epochs 1"),
    (r"munch (train|charlm)", r"--device cuda", "--device cpu"),
    # the speed benchmark: 200 training sentences, a 32-unit BiLSTM
    (r"munch bench", r"$", " --sentences 200 --hidden 32"),
    # the quick preset: one target, two methods, one auxiliary corpus, tiny (the --status line alike)
    (r"munch reproduce --preset quick", r"--preset quick",
     "--preset quick --targets ncbi-disease --methods single-task,single-aux --aux bc5cdr-disease "
     "--max-epochs 1 --train-limit 50 --hidden 8"),
]
# always, shrunk or not: the service on a free port, in the background
ALWAYS: list[tuple[str, str, str]] = [
    (r"munch serve", r"$", " --port {port}"),
    (r"localhost:8000|127\.0\.0\.1:8000", r"(localhost|127\.0\.0\.1):8000", r"\1:{port}"),
]
MARKS = ("internet", "mirror", "gpu", "cluster", "elsewhere", "long")
# what a command must print last: the quick start's sentence (README: "ends with `single-task on ...`")
EXPECT_LAST = [(r"munch train --target ncbi-disease --train-limit",  # grep -E
                r"^single-task on ncbi-disease: dev F1 [0-9]\.[0-9]{4}, test F1 [0-9]\.[0-9]{4}$")]


@dataclass
class Block:
    lang: str  # bash | python
    line: int  # the README line of its opening fence
    text: str


def blocks(readme: str) -> list[Block]:
    """The ```bash and ```python blocks of the README, in order, dedented to their fence."""
    out, current, indent = [], None, ""
    for number, line in enumerate(readme.splitlines(), 1):
        fence = re.match(r"^(\s*)```(\w*)\s*$", line)
        if current is None and fence and fence.group(2) in ("bash", "python"):
            current, indent = Block(fence.group(2), number, ""), fence.group(1)
        elif current is not None and fence and not fence.group(2):
            out.append(current)
            current = None
        elif current is not None:
            current.text += (line[len(indent):] if line.startswith(indent) else line.lstrip()) + "\n"
    return out


def logical_lines(text: str) -> list[str]:
    """Lines with their backslash continuations joined."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1].rstrip() + " "
            continue
        out.append(pending + line.strip() if pending else line)
        pending = ""
    return out


def mark(line: str) -> str | None:
    found = re.search(r"#\s*\[(" + "|".join(MARKS) + r")\]", line)
    return found.group(1) if found else None


def code_part(line: str) -> tuple[str, str]:
    """(command, comment) of a shell line: the comment from the first ` #` outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i:]
    return line.rstrip(), ""


def rewrite(line: str, args, port: int, serve_pids: Path) -> tuple[str, str | None]:
    """The line to run (possibly shrunk) and, if it is skipped, why."""
    command, _ = code_part(line)
    if not command.strip():
        return "", None
    kind = mark(line)
    if kind == "mirror" and args.mirror:
        fetched = Path(args.work) / "fetched"
        return command.replace("/mnt/mirror", str(args.mirror)) + f" --data-dir {fetched}", None
    if kind == "long" and re.search(r"munch reproduce", command):
        return command + " --status", None
    if kind in MARKS:
        return "", f"needs {kind}" if kind != "long" else "hours of training"
    table = ALWAYS + ([] if args.as_written or "runs/evidence" in command else SHRINK)
    for which, pattern, replacement in table:
        if re.search(which, command):
            command = re.sub(pattern, replacement.replace("{port}", str(port)), command, count=1)
    if not args.with_tests:  # the set-up line's test suite (and its browser): .ci/run's job, or --with-tests
        command = re.sub(r"&& \{ command -v chromedriver.*$", "&& echo 'walk: the test suite is skipped "
                         "(--with-tests runs it)'", command)
    if re.match(r"munch serve\b", command):  # runs until stopped: start it, wait until it answers
        health = f"http://127.0.0.1:{port}/health"
        command = (f"{command} > serve.log 2>&1 & echo $! >> {shlex.quote(str(serve_pids))}; "
                   f"for i in $(seq 180); do curl -sf {health} >/dev/null && break; sleep 1; done; "
                   f"curl -sf {health} >/dev/null || {{ cat serve.log; exit 1; }}")
    return command, None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kw)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(f"  {w!r}: {a!r} -> {b!r}" for w, a, b in SHRINK + ALWAYS))
    p.add_argument("--venv", choices=("system", "fresh"), default="system")
    p.add_argument("--data-dir", default=os.environ.get("MUNCHABLES_DATA") or str(REPO.parent / "shared" / "data"))
    p.add_argument("--mirror", help="a local corpus mirror: run the README's [mirror] lines against it")
    p.add_argument("--as-written", action="store_true", help="no shrinking")
    p.add_argument("--with-tests", action="store_true", help="run the set-up block's test suite too")
    p.add_argument("--work", help="where to clone (default: a new temp dir, removed unless --keep)")
    p.add_argument("--keep", action="store_true", help="keep the clone and its runs/ afterwards")
    p.add_argument("--keep-going", action="store_true", help="run every block, then fail if any did (default: stop at the first)")
    p.add_argument("--dry-run", action="store_true", help="print what each block would run, from this checkout's README; run nothing")
    p.add_argument("--timeout", type=float, default=3600, help="seconds one block may take (default 3600)")
    args = p.parse_args()
    if args.dry_run:
        args.work = Path("WORK")
        for i, block in enumerate(blocks((REPO / "README.md").read_text(encoding="utf-8")), 1):
            print(f"=== block {i} (README line {block.line}, {block.lang})")
            for line in logical_lines(block.text) if block.lang == "bash" else block.text.splitlines():
                command, skipped = rewrite(line, args, 8000, Path("serve.pids")) if block.lang == "bash" else (line, None)
                shown = f"  skip ({skipped}): {code_part(line)[0]}" if skipped else f"  {command}" if command else ""
                print(shown, end="\n" if skipped or command else "")
        return 0
    if not Path(args.data_dir, "ncbi-disease").is_dir():
        sys.exit(f"readme_walk: no corpora in {args.data_dir}; give --data-dir (the walk never downloads them)")
    started = time.perf_counter()
    args.work = Path(args.work or tempfile.mkdtemp(prefix="readme-walk-"))
    clone, venv = args.work / "munchables", args.work / "venv"
    run(["git", "clone", "--quiet", str(REPO), str(clone)])
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    run([sys.executable, "-m", "venv", *(["--system-site-packages"] if args.venv == "system" else []), str(venv)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env |= {"PATH": f"{venv / 'bin'}:{env['PATH']}", "VIRTUAL_ENV": str(venv), "MUNCHABLES_DATA": str(args.data_dir),
            "XDG_CACHE_HOME": str(args.work / "cache"), "PYTHONUNBUFFERED": "1"}
    port, serve_pids = free_port(), args.work / "serve.pids"
    readme = (clone / "README.md").read_text(encoding="utf-8")
    found = blocks(readme)
    print(f"readme_walk: {len(found)} blocks of README.md at {head}, in {clone} (venv: {args.venv}, "
          f"{'as written' if args.as_written else 'shrunk'}; corpora: {args.data_dir})", flush=True)
    failed: list[str] = []
    try:
        for i, block in enumerate(found, 1):
            t0 = time.perf_counter()
            print(f"\n=== block {i}/{len(found)} (README line {block.line}, {block.lang}) ===", flush=True)
            if block.lang == "python":
                script, lang = block.text, [str(venv / "bin" / "python")]
                print(script, end="", flush=True)
            else:
                lines = ["set -euo pipefail"]
                for line in logical_lines(block.text):
                    command, skipped = rewrite(line, args, port, serve_pids)
                    if skipped:
                        lines.append(f"echo {shlex.quote(f'walk: skipped ({skipped}): {code_part(line)[0]}')}")
                    elif command:
                        lines.append(f"echo {shlex.quote('$ ' + command)}")
                        expect = next((e for w, e in EXPECT_LAST if re.search(w, command)), None)
                        if expect:  # its output, and its last line checked
                            lines.append(f"{{ {command} ; }} 2>&1 | tee walk-last.log")
                            lines.append(f"tail -n 1 walk-last.log | grep -Eq {shlex.quote(expect)} || "
                                         f"{{ echo 'walk: the last line is not the sentence the README quotes' >&2; exit 1; }}")
                        else:
                            lines.append(command)
                script, lang = "\n".join(lines) + "\n", ["bash"]
            try:
                done = subprocess.run([*lang, "-"], input=script, text=True, cwd=clone, env=env, timeout=args.timeout)
                why = f"exited {done.returncode}" if done.returncode else ""
            except subprocess.TimeoutExpired:
                why = f"ran past {args.timeout:.0f} s"
            print(f"--- block {i}: {time.perf_counter() - t0:.0f} s", flush=True)
            if why:
                failed.append(f"block {i} (README line {block.line}) {why}")
                print(f"readme_walk: FAILED: {failed[-1]}", flush=True)
                if not args.keep_going:
                    return 1
    finally:
        if serve_pids.exists():
            for pid in serve_pids.read_text().split():
                try:
                    os.kill(int(pid), 15)
                except ProcessLookupError:
                    pass
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    if failed:
        print(f"\nreadme_walk: {len(failed)} of {len(found)} blocks FAILED: {'; '.join(failed)}", flush=True)
        return 1
    print(f"\nreadme_walk: all {len(found)} blocks passed in {time.perf_counter() - started:.0f} s "
          f"(README at {head}, venv {args.venv}, {'as written' if args.as_written else 'shrunk'})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
