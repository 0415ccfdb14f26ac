"""Resident memory of one tagging process every 250 documents (docs/benchmarks.md, "Tagging on every core").

    python3 scripts/bench_tag_memory.py --model /tmp/paths-bench/model /tmp/paths-bench/abstracts/abstracts005.pubtator ...
With --trim, glibc's malloc_trim also runs every 250 documents (tagging itself now trims after each group).
"""

import argparse
import ctypes

import torch

from munchables.tagging.collection import read_inputs
from munchables.tagging.tagger import Tagger


def rss_kb() -> int:
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--trim", action="store_true")
    p.add_argument("inputs", nargs="+")
    args = p.parse_args()
    torch.set_num_threads(1)
    tagger = Tagger.load(args.model)
    for n, _ in enumerate(tagger.stream(read_inputs(args.inputs, "auto"), "target", "all", 256), 1):
        if n % 250 == 0:
            if args.trim:
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            print(n, rss_kb(), "KB", flush=True)


if __name__ == "__main__":
    main()
