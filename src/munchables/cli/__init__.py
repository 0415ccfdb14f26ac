"""The `munch` command: argument parsing and messages only; each command calls one function elsewhere.

Each command imports what it runs inside its function: most of munchables loads torch, and
`munch --help` (and a mistyped flag) should answer at once. Only torch-free modules (choices,
checks, errors) are imported at the top.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys

from .. import __version__
from ..errors import UserError
from . import bench, data, experiments, tag, train

log = logging.getLogger("munchables")

# OSErrors about a path the user chose, not bugs: printed as one line like a UserError
USER_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ELOOP, errno.ENAMETOOLONG}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="munch", description="NER with several auxiliary corpora (MUNCHABLES)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--version", action="version", version=f"munch (munchables) {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data.register(sub)
    train.register(sub)
    tag.register(sub)
    bench.register(sub)
    experiments.register(sub)
    parser.subcommands = sub.choices  # for a subcommand's own usage on a bad flag
    return parser


def _explicit(argv: list[str] | None) -> set[str]:
    """The options given on the command line (not defaults): parsed again with every default suppressed."""
    parser = build_parser()
    for p in parser.subcommands.values():
        for action in p._actions:
            action.default, action.required = argparse.SUPPRESS, False
    args, _ = parser.parse_known_args(argv)
    return set(vars(args))


def _resume_hint(args) -> str:
    if args.command == "train":
        return f"; continue with: munch train --out {args.out} --resume"
    if args.command == "charlm":
        return "; continue with the same command and --resume"
    if args.command == "reproduce":
        return "; run the same command again to go on (finished trials are kept)"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the subcommand's usage, not the top level's
        parser.subcommands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    args.explicit = _explicit(argv) if getattr(args, "resume", False) else set()
    # our messages at INFO, other libraries' (gensim's flood of INFO lines) only from WARNING
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        return args.func(args)
    except UserError as e:
        print(f"munch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system refused (permissions, read-only, full, link loops): the user's to fix
        if e.errno not in USER_ERRNOS or not e.filename:
            raise
        print(f"munch {args.command}: error: {e.filename}: {e.strerror}; check the path and its permissions "
              "or free space", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"munch {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
