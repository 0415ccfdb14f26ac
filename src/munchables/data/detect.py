"""`--input-format auto`: which format a file is, by its content first and its name second.

The field's files are often named for what they hold, not for their format: NCBI-disease's
``NCBItestset_corpus.txt`` and BC5CDR's ``CDR_TestSet.PubTator.txt`` are PubTator. So the first
64 KB (after gzip, for ``.gz``) decide where they can:

    <PubmedArticleSet ..., <PubmedArticle    medline (an NLM baseline or update file)
    <collection                               bioc-xml
    {"PubTator3": ... or {... "documents"     bioc-json (also a list of collections)
    [{... "data" ... "annotations"            label-studio (a JSON list of tasks)
    a JSON object on the first line           jsonl (when the file is not one JSON value)
    ID|t|TEXT or ID|a|TEXT on the first line  pubtator

and where they cannot (a JSON collection longer than 64 KB that does not say "documents" early,
plain text), the suffix does: .jsonl, .pubtator, .xml (BioC), .json (BioC), .xml.gz (MEDLINE);
anything else is text. A choice other than text is logged, one line per input, with what decided it.
"""

from __future__ import annotations

import json
import re

SNIFF_BYTES = 65536
SUFFIXES = {".jsonl": "jsonl", ".pubtator": "pubtator", ".xml": "bioc-xml", ".json": "bioc-json"}  # else text

_XML_ROOT = re.compile(r"<(?!\?|!)([A-Za-z_][\w.-]*)")  # the first element's name (after <?xml ...?> and <!DOCTYPE ...>)
_PUBTATOR = re.compile(r"[^|\t\n]*\|[ta]\|")


def by_suffix(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".xml.gz"):
        return "medline"
    if lower.endswith(".gz"):
        lower = lower[:-3]
    return next((fmt for suffix, fmt in SUFFIXES.items() if lower.endswith(suffix)), None)


def by_content(head: bytes) -> str | None:
    """The format the first bytes of a file show, or None when they do not show one."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        m = _XML_ROOT.search(re.sub(r"<!--.*?-->|<!DOCTYPE[^>\[]*(\[.*?\])?[^>]*>", "", text, flags=re.S))
        root = m.group(1) if m else ""
        if root in ("PubmedArticleSet", "PubmedArticle", "PubmedBookArticleSet"):
            return "medline"
        if root == "collection":
            return "bioc-xml"
        return None
    if text.startswith("{") or text.startswith("["):
        first = text.split("\n", 1)[0].strip()
        whole = None
        try:
            whole = json.loads(text)
        except ValueError:
            pass
        if isinstance(whole, dict):
            return "bioc-json" if "documents" in whole or "PubTator3" in whole else "jsonl"
        if isinstance(whole, list):
            return _list_kind(whole)
        if "\n" in text.strip():  # several lines: one JSON value per line is jsonl
            try:
                if isinstance(json.loads(first), dict):
                    return "jsonl"
            except ValueError:
                pass
        start = text[:2000]
        if text.startswith("{") and ('"PubTator3"' in start or '"documents"' in start or '"source"' in start):
            return "bioc-json"
        if text.startswith("["):
            return "bioc-json" if '"documents"' in start else "label-studio" if '"data"' in start else None
        return None
    line = text.split("\n", 1)[0]
    if _PUBTATOR.match(line):
        return "pubtator"
    return None


def _list_kind(items: list) -> str | None:
    if items and all(isinstance(c, dict) and "documents" in c for c in items):
        return "bioc-json"
    if all(isinstance(t, dict) for t in items):
        return "label-studio"
    return None


def choose(name: str, head: bytes) -> tuple[str, str]:
    """(format, what decided it) for a file called `name` whose first bytes are `head`."""
    found = by_content(head)
    if found is not None:
        return found, "by its content"
    found = by_suffix(name)
    if found is not None:
        return found, "by its name"
    return "text", "neither its content nor its name names another format"
