"""Raw text to sentences of tokens with character offsets, tokenised the way the corpora are.

The corpora in ``shared/data`` (Crichton et al. 2017 and BioBERT's copies, Lee et al. 2020) keep
every run of letters and digits whole and give every other visible character a token of its
own: ``IL-2`` is ``IL - 2``, ``p53/p21`` is ``p53 / p21``, ``2.5`` is ``2 . 5``, ``(R)`` is
``( R )``, ``Parkinson's`` is ``Parkinson ' s``, ``Na+`` is ``Na +`` and ``5-FU`` is
``5 - FU``, while ``3beta`` and ``IE86`` stay whole. jnlpba alone follows GENIA instead (it keeps
``IL-2`` and ``'s`` whole); a tagger trained on it sees text tokenised differently.

Tokens
    A maximal run of letters and digits (Unicode ``str.isalnum`` characters, with combining
    accents U+0300-U+036F kept on the letter before them), or any other single character that is
    not whitespace (punctuation, symbols, the underscore). Whitespace only separates.

Sentences
    1. Every line is a paragraph: line breaks (``\\n``, ``\\r\\n``, ``\\r`` and the other breaks
       ``str.splitlines`` knows) and blank lines both end a sentence. Text hard-wrapped inside
       a sentence is therefore split at the wrap; join such lines first.
    2. Inside a line a sentence ends after a run of ``.``, ``!`` or ``?`` (plus any closing
       brackets or quotes right after it, as in ``.)``) when whitespace follows and the next
       non-space character is an uppercase letter, a digit or an opening bracket ``( [ {``.
    3. Except after an abbreviation: no split when the word that the ``.`` ends (from the
       previous whitespace, leading brackets and quotes dropped) is in ``ABBREVIATIONS``
       (``e.g.``, ``i.e.``, ``et al.``, ``Fig.``, ``vs.``, ``Dr.``, ...), ignoring case, or is
       a single uppercase letter (an initial, as in ``J. Smith``; so ``vitamin C. The`` stays
       one sentence). Lines without tokens give no sentence.

The rules are the usual regular-expression splitter (Punkt, Kiss & Strunk 2006, learns the
abbreviations instead); ``tests/test_tokenize.py`` checks them against the corpora.
"""

from __future__ import annotations

import re

# a run of word characters (\w: letters, digits and "_") and combining accents, or one other visible
# character; `_tokens` then cuts the runs at "_", which is a token of its own. One character class
# repeated, rather than `(?:[^\W_]|[\u0300-\u036f])+`: Python's re keeps a backtracking mark per
# character of an alternation repeated, 120 MB for a 1,000,000-letter word; a class keeps none.
_TOKEN = re.compile(r"[\w\u0300-\u036f]+|[^\s]")
_UNDERSCORE = re.compile(r"[^_]+|_")
# the line breaks of str.splitlines
_LINE = re.compile(r"[^\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
# end of a candidate sentence: terminators, closing brackets/quotes, whitespace, next character
_END = re.compile(r"[.!?]+[)\]}\"'\u2019\u201d]*\s+(?=(\S))")

# Words that end in "." without ending a sentence, lower case, without the final ".".
ABBREVIATIONS = frozenset("""
    e.g eg i.e ie cf viz al vs v fig figs eq eqs ref refs tab no nos vol pp p
    dr mr mrs ms prof st ca approx resp sp spp subsp var gen sect
""".split())


def _is_abbreviation(word: str) -> bool:
    """Whether `word` (the text from the last whitespace up to a ".") is an abbreviation."""
    word = word.lstrip("([{\"'\u2018\u201c")
    return word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isupper())


def _sentence_spans(line: str, offset: int):
    """Yield (start, end) of the sentences in one line; `offset` is the line's place in the text."""
    start = 0
    for m in _END.finditer(line):
        nxt = m.group(1)
        if not (nxt.isupper() or nxt.isdigit() or nxt in "([{"):
            continue
        dot = m.start()
        begin = dot
        while begin > 0 and not line[begin - 1].isspace():
            begin -= 1
        word = line[begin:dot]  # "e.g" of "e.g.", "(Fig" of "(Fig."
        if line[dot] == "." and _is_abbreviation(word):
            continue
        yield offset + start, offset + m.start(1)
        start = m.start(1)
    yield offset + start, offset + len(line)


def tokenize(text: str) -> list[list[tuple[str, int, int]]]:
    """Split `text` into sentences of ``(token, start, end)`` with ``text[start:end] == token``.

    >>> tokenize("IL-2 rose (p<0.05). Fig. 2 shows it.")
    ... # doctest: +NORMALIZE_WHITESPACE
    [[('IL', 0, 2), ('-', 2, 3), ('2', 3, 4), ('rose', 5, 9), ('(', 10, 11), ('p', 11, 12),
      ('<', 12, 13), ('0', 13, 14), ('.', 14, 15), ('05', 15, 17), (')', 17, 18), ('.', 18, 19)],
     [('Fig', 20, 23), ('.', 23, 24), ('2', 25, 26), ('shows', 27, 32), ('it', 33, 35),
      ('.', 35, 36)]]
    """
    sentences = []
    for line in _LINE.finditer(text):
        for start, end in _sentence_spans(line.group(), line.start()):
            tokens = list(_tokens(text, start, end))
            if tokens:
                sentences.append(tokens)
    return sentences


def _tokens(text: str, start: int, end: int):
    """The ``(token, start, end)`` of text[start:end]: _TOKEN's runs, each cut at "_" (see _TOKEN)."""
    for m in _TOKEN.finditer(text, start, end):
        token = m.group()
        if "_" not in token or len(token) == 1:
            yield token, m.start(), m.end()
            continue
        for part in _UNDERSCORE.finditer(token):
            yield part.group(), m.start() + part.start(), m.start() + part.end()
