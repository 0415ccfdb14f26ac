"""The README's examples chain (issue 27.1): what one uses, an earlier one made.

A static check of README.md through the walk's own parser (scripts/readme_walk.py, which runs the
blocks for real): every run directory or file that a command reads (`--model DIR`, `--input FILE`,
`Tagger.load("DIR")`, `--resume` on `--out DIR`, `--text`, `--vectors`, `--charlm-*`,
`--word-vectors`) is written by a command above it. And `.ci/run` runs exactly the README's test line.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("readme_walk", ROOT / "scripts" / "readme_walk.py")
walk = importlib.util.module_from_spec(spec)
sys.modules["readme_walk"] = walk  # its dataclass looks its module up
spec.loader.exec_module(walk)

READS = ("--model", "--input", "--text", "--vectors", "--charlm-forward", "--charlm-backward", "--word-vectors", "--raw")
WRITES = ("--out",)


def _commands():
    """(README line, words) of every command, shell lines split at && | ; and > redirections kept as writes."""
    for block in walk.blocks((ROOT / "README.md").read_text(encoding="utf-8")):
        if block.lang == "python":
            yield block.line, ["python"], re.findall(r'(?:Tagger\.load|open)\("([^"]+)"', block.text), []
            continue
        for line in walk.logical_lines(block.text):
            command, _ = walk.code_part(line)
            if not command or walk.mark(line):
                continue
            lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens, parts = list(lexer), [[]]
            for token in tokens:  # commands split at && | ; ( ), a > redirection kept as a write
                if token in ("&&", "|", ";", "(", ")", "||", "&"):
                    parts.append([])
                else:
                    parts[-1].append(token)
            for words in parts:
                reads = [words[i + 1] for i, w in enumerate(words[:-1]) if w in READS]
                writes = [words[i + 1] for i, w in enumerate(words[:-1]) if w in WRITES or w == ">"]
                writes += [w for i, w in enumerate(words) if i and words[i - 1] == "-p" and words[0] == "mkdir"]
                if "--resume" in words and words[:2] == ["munch", "train"]:
                    reads += writes
                yield block.line, words, reads, writes


def test_every_example_uses_only_what_an_earlier_one_made():
    made: set[str] = set()
    missing = []
    for line, words, reads, writes in _commands():
        for path in reads:
            if path in ("-", "$MODEL") or path.startswith(("docs/", "~", "/")):
                continue  # standard input, a package's model folder, files of the repository, the user's own
            if not any(path == m or path.startswith(m.rstrip("/") + "/") for m in made):
                missing.append(f"README line {line}: {' '.join(words[:3])} reads {path}, which no earlier block makes")
        made.update(writes)
    assert not missing, "\n".join(missing)


def test_ci_runs_exactly_the_readme_test_command():
    setup = walk.blocks((ROOT / "README.md").read_text(encoding="utf-8"))[0]
    test_line = [line for line in setup.text.splitlines() if "pytest" in line]
    assert len(test_line) == 1
    assert test_line[0] in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
