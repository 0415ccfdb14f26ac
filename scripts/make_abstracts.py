"""A collection of abstract-sized PubTator documents made from corpus text, for the tagging scale
benchmark (docs/benchmarks.md, "Tagging on every core and on a Ray cluster").

Every distinct sentence of every split of the corpora in the data directory, tokens joined as
running text (no space before closing punctuation), shuffled with a fixed seed; each document is one sentence as its title and the next
`--sentences` as its abstract (the sentences are reused in turn when the collection needs more
than there are). Written as `--files` PubTator files of equal size into `--out`.

    python3 scripts/make_abstracts.py --data-dir ../shared/data --abstracts 20000 --files 20 --out /tmp/abstracts
"""

import argparse
import random
import re
from pathlib import Path

from munchables.data.corpus import available_corpora, default_data_dir, load_corpus


def detokenised(tokens) -> str:
    """Tokens joined as running text: no space before closing punctuation or after an opening bracket."""
    text = " ".join(tokens)
    text = re.sub(r" ([.,;:?!%)\]])", r"\1", text)
    return re.sub(r"([(\[]) ", r"\1", text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--abstracts", type=int, default=20000)
    p.add_argument("--sentences", type=int, default=9, help="sentences per abstract, besides the title")
    p.add_argument("--files", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    data_dir = default_data_dir(args.data_dir)
    lines = list(dict.fromkeys(detokenised(s.tokens) for name in available_corpora(data_dir)
                               for c in [load_corpus(name, data_dir)] for split in ("train", "dev", "test")
                               for s in c.split(split)))
    random.Random(args.seed).shuffle(lines)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_file = -(-args.abstracts // args.files)
    at = 0
    for f in range(args.files):
        with open(out / f"abstracts{f:03d}.pubtator", "w", encoding="utf-8") as handle:
            for n in range(f * per_file, min((f + 1) * per_file, args.abstracts)):
                parts = [lines[(at + k) % len(lines)] for k in range(args.sentences + 1)]
                at += args.sentences + 1
                handle.write(f"{n + 1}|t|{parts[0]}\n{n + 1}|a|{' '.join(parts[1:])}\n\n")


if __name__ == "__main__":
    main()
