"""Reading corpora: small hand-written files for each rule, and the shared data against its README."""

import gzip
import logging
import os
from pathlib import Path

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from munchables.choices import SPLITS
from munchables.data import corpus as C
from munchables.data.corpus import Sentence
from munchables.errors import UserError
from munchables.paper import PAPER_CORPORA

# One sentence, "a b c d e f g", with the entities (Chem b-c), (Chem d) and (Dis f-g) written in each
# scheme; adjacent Chem entities make IOB1 use its B- and IOBES its S-.
TOKENS = ["a", "b", "c", "d", "e", "f", "g"]
SPANS = [("Chem", 1, 2), ("Chem", 3, 3), ("Dis", 5, 6)]  # (type, first, last) written out by hand
SCHEMES = {
    "IOB2": ["O", "B-Chem", "I-Chem", "B-Chem", "O", "B-Dis", "I-Dis"],
    "IOB1": ["O", "I-Chem", "I-Chem", "B-Chem", "O", "I-Dis", "I-Dis"],
    "IOBES": ["O", "B-Chem", "E-Chem", "S-Chem", "O", "B-Dis", "E-Dis"],
}
IOB2 = tuple(SCHEMES["IOB2"])


def column_text(tags, tokens=TOKENS, sep="\t"):
    """One sentence as column lines."""
    return "".join(f"{tok}{sep}{tag}\n" for tok, tag in zip(tokens, tags))


def write(path: Path, text: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to `path`, gzipped when its name ends in .gz."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def make_corpus(directory: Path, names=("train.tsv", "dev.tsv", "test.tsv"), text=None) -> Path:
    """A corpus directory whose three files hold the IOB2 sentence (twice in train)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        body = text or column_text(SCHEMES["IOB2"])
        write(directory / name, body + "\n" + body if name.startswith("train") else body)
    return directory


# ----------------------------------------------------------------------------- schemes


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_each_scheme_reads_as_the_same_iob2_entities(tmp_path, scheme):
    sentences = C.read_column_file(write(tmp_path / "x.tsv", column_text(SCHEMES[scheme])))
    assert sentences == [Sentence(tuple(TOKENS), IOB2)]
    # seqeval as the oracle: the IOB2 output holds exactly the hand-written spans
    assert get_entities(list(sentences[0].tags)) == SPANS


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_detect_scheme(scheme):
    assert C.detect_scheme([["O", "O"], SCHEMES[scheme]]) == scheme


@pytest.mark.parametrize("tags, expected", [
    ([["O", "O"]], "IOB2"),  # nothing tells the schemes apart
    ([["I-X", "O"], ["B-X"]], "IOB2"),  # a B- after a sentence start opens an entity: not IOB1
    ([["I-X", "B-X", "O", "I-Y"]], "IOB1"),
    ([["B", "I", "O", "S"]], "IOBES"),
])
def test_detect_scheme_edge_cases(tags, expected):
    assert C.detect_scheme(tags) == expected


def test_detect_scheme_rejects_unknown_tags():
    with pytest.raises(UserError, match="unknown tag 'X-Y'"):
        C.detect_scheme([["O", "X-Y"]])


@pytest.mark.parametrize("bare, expected", [
    (["O", "B", "I", "O", "B"], ("O", "B-Entity", "I-Entity", "O", "B-Entity")),  # BioBERT's IOB2
    (["O", "S", "B", "E", "O"], ("O", "B-Entity", "B-Entity", "I-Entity", "O")),  # IOBES
])
def test_bare_tags_get_the_type_entity(tmp_path, bare, expected):
    sentences = C.read_column_file(write(tmp_path / "bare", column_text(bare, TOKENS[:5])))
    assert sentences[0].tags == expected


# ----------------------------------------------------------------------------- file layouts


@pytest.mark.parametrize("tags, expected, count", [
    # IOB2: I-Dis after O, and I-Chem after a Dis entity, open entities as conlleval reads them
    (["B-Chem", "O", "I-Dis", "I-Dis", "I-Chem"], ("B-Chem", "O", "B-Dis", "I-Dis", "B-Chem"), 2),
    # IOBES: E- closes an entity, so the I-X after it opens a new one
    (["B-X", "E-X", "I-X", "O", "S-X"], ("B-X", "I-X", "B-X", "O", "B-X"), 1),
])
def test_entities_opened_by_inside_warn_once_with_the_count(tmp_path, caplog, tags, expected, count):
    text = column_text(tags, TOKENS[:5]) + "\n" + column_text(["O", "B-X"], TOKENS[:2])
    path = write(tmp_path / "lenient.tsv", text)
    with caplog.at_level(logging.WARNING, logger="munchables"):
        sentences = C.read_column_file(path)
    assert sentences[0].tags == expected
    warnings = [r for r in caplog.records if r.name == "munchables"]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage() and f": {count} entity start(s)" in warnings[0].getMessage()


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2"])
def test_well_formed_files_do_not_warn(tmp_path, caplog, scheme):
    with caplog.at_level(logging.WARNING, logger="munchables"):
        C.read_column_file(write(tmp_path / "ok.tsv", column_text(SCHEMES[scheme])))
    assert not [r for r in caplog.records if r.name == "munchables"]


@pytest.mark.parametrize("name, text", [
    ("plain.tsv", column_text(SCHEMES["IOB2"])),
    ("spaces.txt", column_text(SCHEMES["IOB2"], sep="  ")),  # whitespace columns
    ("crlf.conll", column_text(SCHEMES["IOB2"]).replace("\n", "\r\n")),
    ("bom", "\ufeff" + column_text(SCHEMES["IOB2"])),
    ("zipped.tsv.gz", column_text(SCHEMES["IOB2"])),
    ("docstart.tsv", "-DOCSTART-\tO\n\n" + column_text(SCHEMES["IOB2"]) + "\n\n-DOCSTART-\tO\n\n"),
    ("three.tsv", column_text(SCHEMES["IOB2"], sep="\tNN\t")),  # three columns: the tag is the last
])
def test_layouts_read_the_same_sentence(tmp_path, name, text):
    assert C.read_column_file(write(tmp_path / name, text)) == [Sentence(tuple(TOKENS), IOB2)]


def test_docstart_and_blank_runs_make_no_empty_sentences(tmp_path):
    one = column_text(["B-X", "O"], ["p", "q"])
    text = "-DOCSTART- -X- -X- O\n\n" + one + "\n\n\n" + "-DOCSTART- -X- -X- O\n\n" + one
    sentences = C.read_column_file(write(tmp_path / "docs.txt", text))
    assert [s.tokens for s in sentences] == [("p", "q"), ("p", "q")]


def test_tab_separated_tokens_keep_their_spaces(tmp_path):
    sentences = C.read_column_file(write(tmp_path / "sp.tsv", "2 , 3\tB-X\nend\tO\n"))
    assert sentences[0].tokens == ("2 , 3", "end")


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text, line, what", [
    ("a\tO\nb\tB-X\nlonely\n", 3, "one column"),
    ("a\tPOS\tO\n\nb\tPOS\tO\nc\tO\n", 4, "2 columns; expected 3 like line 1"),
    ("a\tO\nb\tX-Chem\n", 2, "unknown tag 'X-Chem'"),
    ("a\tO\nb\tB-\n", 2, "unknown tag 'B-'"),
    ("a\tO\n\nb\to\n", 3, "unknown tag 'o'"),
    ("a\tO\n\tB-X\n", 2, "empty token"),
    (b"a\tO\n\nb\xe9\tO\n", 3, "not UTF-8"),
])
def test_bad_lines_name_file_and_line(tmp_path, text, line, what):
    path = write(tmp_path / "bad.tsv", text)
    with pytest.raises(UserError) as err:
        C.read_column_file(path)
    message = str(err.value)
    assert message.startswith(f"{path.resolve()}:{line}: ")
    assert what in message and "; expected" in message


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART-\tO\n\n"])
def test_file_without_sentences_is_an_error(tmp_path, text):
    path = write(tmp_path / "empty.tsv", text)
    with pytest.raises(UserError, match=r"empty.tsv: no sentences; expected"):
        C.read_column_file(path)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        C.read_column_file(tmp_path / "nope.tsv")


# ----------------------------------------------------------------------------- split files


@pytest.mark.parametrize("names", [
    ("train.tsv", "dev.tsv", "test.tsv"),
    ("train.txt", "devel.txt", "test.txt"),  # devel is dev
    ("train", "dev", "test"),  # no extension
    ("train.tsv.gz", "devel.conll.gz", "test.tsv"),
])
def test_split_files_and_load_by_path(tmp_path, names):
    directory = make_corpus(tmp_path / "my-corpus", names)
    assert {s: p.name for s, p in C.split_files(directory).items()} == dict(zip(SPLITS, names))
    corpus = C.load_corpus(str(directory))
    assert (corpus.name, corpus.family, corpus.path) == ("my-corpus", None, directory.resolve())
    assert (len(corpus.train), len(corpus.dev), len(corpus.test)) == (2, 1, 1)
    assert corpus.split("dev") == [Sentence(tuple(TOKENS), IOB2)]
    assert corpus.entity_types == ["Chem", "Dis"]


def test_missing_split_names_directory_and_files(tmp_path):
    directory = make_corpus(tmp_path / "c", ("train.tsv", "test.tsv"))
    with pytest.raises(UserError, match=r"c: no dev file; expected a file named dev or devel"):
        C.split_files(directory)


def test_doubled_split_is_an_error(tmp_path):
    directory = make_corpus(tmp_path / "c", ("train.tsv", "train.txt", "dev.tsv", "test.tsv"))
    with pytest.raises(UserError, match=r"several train files \(train.tsv, train.txt\)"):
        C.split_files(directory)


def test_unknown_split_name(tmp_path):
    corpus = C.load_corpus(str(make_corpus(tmp_path / "c")))
    with pytest.raises(UserError, match="unknown split 'valid'; expected one of train, dev, test"):
        corpus.split("valid")


@pytest.mark.parametrize("limit, kept", [(1, 1), (5, 2)])
def test_train_limit_keeps_the_first_sentences(tmp_path, limit, kept):
    directory = make_corpus(tmp_path / "c")
    write(directory / "train.tsv", column_text(["B-X"], ["first"]) + "\n" + column_text(["O"], ["second"]))
    corpus = C.load_corpus(str(directory), train_limit=limit)
    assert [s.tokens[0] for s in corpus.train] == ["first", "second"][:kept]


@pytest.mark.parametrize("limit", [0, -3, 1.5])
def test_bad_train_limit(tmp_path, limit):
    with pytest.raises(UserError, match="train limit must be a positive number"):
        C.load_corpus(str(make_corpus(tmp_path / "c")), train_limit=limit)


def test_changed_file_is_read_again(tmp_path):
    path = write(tmp_path / "x.tsv", column_text(["O"], ["old"]))
    assert C.read_column_file(path)[0].tokens == ("old",)
    write(path, column_text(["O", "O"], ["new", "one"]))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert C.read_column_file(path)[0].tokens == ("new", "one")


# ----------------------------------------------------------------------------- data directories


def test_default_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv(C.ENV_DATA, str(tmp_path / "env"))
    assert C.default_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert C.default_data_dir() == tmp_path / "env"
    monkeypatch.delenv(C.ENV_DATA)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    beside_repo = Path(C.__file__).resolve().parents[3] / ".." / "shared" / "data"
    expected = beside_repo.resolve() if beside_repo.is_dir() else tmp_path / "cache" / "munchables" / "corpora"
    monkeypatch.chdir(tmp_path)  # no ../shared/data beside tmp_path
    assert C.default_data_dir() == expected


@pytest.mark.parametrize("xdg, expected", [
    ("/xdg/cache", Path("/xdg/cache/munchables/corpora")),
    ("", Path.home() / ".cache" / "munchables" / "corpora"),
    ("relative/cache", Path.home() / ".cache" / "munchables" / "corpora"),  # the XDG spec ignores relative paths
])
def test_cache_data_dir_without_shared(xdg, expected, tmp_path, monkeypatch):
    monkeypatch.delenv(C.ENV_DATA, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.setattr(C, "__file__", str(tmp_path / "a" / "b" / "c" / "corpus.py"))  # no ../shared beside "the repo"
    monkeypatch.chdir(tmp_path)
    assert C.default_data_dir() == expected


def test_available_and_missing_corpora(tmp_path):
    for name in ("s800", "zeta", "ncbi-disease", "alpha"):
        make_corpus(tmp_path / name)
    (tmp_path / "bc2gm").mkdir()  # no train file: not a corpus
    assert C.available_corpora(tmp_path) == ["ncbi-disease", "s800", "alpha", "zeta"]
    assert C.missing_paper_corpora(tmp_path) == [
        "bc5cdr-disease", "bc5cdr-chem", "chemdner", "bc2gm", "jnlpba", "linnaeus"]
    assert C.available_corpora(None) == [] and C.available_corpora(tmp_path / "none") == []


def test_find_corpus_by_id_under_data_dir(tmp_path):
    make_corpus(tmp_path / "bc2gm")
    assert C.find_corpus_dir("bc2gm", tmp_path) == tmp_path / "bc2gm"
    corpus = C.load_corpus("bc2gm", tmp_path)
    assert (corpus.name, corpus.family) == ("bc2gm", "gene/protein")


@pytest.mark.parametrize("name, data_dir, fragments", [
    ("chemdner", "data", ["corpus 'chemdner' not found in", "munch corpora fetch chemdner", "cambridgeltl/MTL-Bioinformatics-2016",
                          "data/BC4CHEMD/{train,devel,test}.tsv", "-DOCSTART-", "rename devel", "/chemdner/"]),
    ("ncbi-disease", "data", ["corpus 'ncbi-disease' not found in", "munch corpora fetch ncbi-disease --data-dir"]),
    ("mine", "data", ["corpus 'mine' not found in", "available there: s800"]),
    ("ncbi-disease", None, ["pass --data-dir", "MUNCHABLES_DATA"]),
    ("ncbi-disease", "absent", ["absent does not exist", "munch corpora fetch ncbi-disease", "pass --data-dir"]),
    ("./nowhere", "data", ["./nowhere: no such directory"]),
])
def test_missing_corpus_messages(tmp_path, name, data_dir, fragments):
    make_corpus(tmp_path / "data" / "s800")
    with pytest.raises(UserError) as err:
        C.find_corpus_dir(name, None if data_dir is None else tmp_path / data_dir)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    if data_dir == "data" and not name.startswith("."):
        assert str(tmp_path / "data") in message


@pytest.mark.parametrize("name, family", [
    ("ncbi-disease", "disease"), ("bc5cdr-chem", "chemical"), ("jnlpba", "gene/protein"),
    ("s800", "species"), ("anatem", "anatomy"), ("ex-ptm", "gene/protein"), ("craft", None), ("mine", None),
])
def test_corpus_family(name, family):
    assert C.corpus_family(name) == family


def test_paper_corpora_follow_table1():
    assert list(PAPER_CORPORA) == ["ncbi-disease", "bc5cdr-disease", "bc5cdr-chem", "chemdner",
                                     "bc2gm", "jnlpba", "linnaeus", "s800"]
    assert PAPER_CORPORA["chemdner"].counts["dev"] == (30639, 887805, 29486)
    assert PAPER_CORPORA["jnlpba"].counts["test"] == (3856, 114709, 6241)


# ----------------------------------------------------------------------------- statistics and Table 1


def test_corpus_stats_count_entities_after_conversion(tmp_path):
    directory = make_corpus(tmp_path / "c", text=column_text(SCHEMES["IOB1"]))  # 3 entities, one B- tag
    rows = C.corpus_stats(C.load_corpus(str(directory)))
    assert rows[0] == {"corpus": "c", "split": "train", "sentences": 2, "tokens": 14, "mentions": 6}
    assert [r["split"] for r in rows] == ["train", "dev", "test"]


def test_format_table1_marks_differences_and_missing():
    rows = [
        {"corpus": "ncbi-disease", "split": "train", "sentences": 5424, "tokens": 135701, "mentions": 5134},
        {"corpus": "ncbi-disease", "split": "dev", "sentences": 923, "tokens": 23969, "mentions": 999},
        {"corpus": "mine", "split": "test", "sentences": 3, "tokens": 30, "mentions": 4},
    ]
    lines = C.format_table1(rows).splitlines()
    by_key = {(line.split()[0], line.split()[2]): line for line in lines[2:] if len(line.split()) > 2}
    assert "*" not in by_key["ncbi-disease", "train"]
    assert by_key["ncbi-disease", "dev"].count("*") == 1 and "787*" in by_key["ncbi-disease", "dev"]
    for name in ("bc5cdr-disease", "chemdner", "s800"):
        assert "missing" in by_key[name, "test"]
    assert "30,682" in by_key["chemdner", "train"] and "*" not in by_key["chemdner", "train"]
    assert by_key["mine", "test"].rstrip().endswith("|")  # no paper figures for a corpus of ours
    assert "* differs from our figure" in lines
    missing = [n for n in PAPER_CORPORA if n != "ncbi-disease"]
    assert lines[-1] == f"missing: {', '.join(missing)}; fetch with `munch corpora fetch {' '.join(missing)}`"


# ----------------------------------------------------------------------------- the shared data

# Measured figures from ../shared/data/README.md: (sentences, tokens, mentions) for train, dev, test.
# They equal Table 1 except for jnlpba, which is Crichton's split rather than BioBERT's.
README_COUNTS = {
    "ncbi-disease": [(5424, 135701, 5134), (923, 23969, 787), (940, 24497, 960)],
    "bc5cdr-disease": [(4560, 118170, 4182), (4581, 117453, 4246), (4797, 124750, 4424)],
    "bc5cdr-chem": [(4560, 118170, 5203), (4581, 117453, 5347), (4797, 124750, 5385)],
    "bc2gm": [(12574, 355405, 15197), (2519, 71042, 3061), (5038, 143465, 6325)],
    "jnlpba": [(16807, 445090, 46750), (1739, 47461, 4551), (3856, 101039, 8662)],
    "linnaeus": [(11935, 281273, 2119), (4078, 93877, 711), (7142, 165095, 1433)],
    "s800": [(5733, 147291, 2557), (830, 22217, 384), (1630, 42298, 767)],
}
# ../shared/data-extra/README.md, same layout
EXTRA_COUNTS = {
    "anatem": [(5861, 153823, 6946), (2118, 58785, 2139), (3830, 99976, 4616)],
    "bionlp09": [(7462, 227742, 9296), (1448, 44185, 2078), (2446, 74624, 3589)],
    "bionlp13cg": [(3033, 83467, 10826), (1003, 27599, 3616), (1906, 52771, 6881)],
    "ex-ptm": [(1377, 39888, 1787), (437, 12664, 603), (1839, 53020, 2308)],
}


def measured(corpus):
    """(sentences, tokens, mentions) per split, from corpus_stats."""
    return [(r["sentences"], r["tokens"], r["mentions"]) for r in C.corpus_stats(corpus)]


def test_shared_data_matches_its_readme_and_table1():
    data_dir = C.default_data_dir()
    if data_dir is None or not data_dir.is_dir():
        pytest.skip("no data directory (set MUNCHABLES_DATA or put the corpora in ../shared/data)")
    present = [name for name in C.available_corpora(data_dir) if name in README_COUNTS]
    if not present:
        pytest.skip(f"no paper corpora under {data_dir}")
    for name in present:
        corpus = C.load_corpus(name, data_dir)
        assert measured(corpus) == README_COUNTS[name], name
        assert corpus.family == PAPER_CORPORA[name].family
        if name != "jnlpba":  # the README: every other corpus equals Table 1
            assert measured(corpus) == [PAPER_CORPORA[name].counts[s] for s in SPLITS], name


def test_extra_data_matches_its_readme():
    data_dir = C.default_data_dir()
    extra = data_dir.parent / "data-extra" if data_dir is not None else None
    if extra is None or not extra.is_dir():
        pytest.skip("no ../shared/data-extra beside the data directory")
    for name, counts in EXTRA_COUNTS.items():
        if (extra / name).is_dir():
            assert measured(C.load_corpus(str(extra / name))) == counts, name


# --- bounded reading (issue 22.2) ----------------------------------------------------------------


def _inflating(path: Path, lines: int) -> Path:
    """A small .gz whose column text inflates to `lines` times 18 bytes."""
    with gzip.open(path, "wb") as f:
        f.write(b"aspirin\tB-Chemical\n" * lines)
    return path


def test_a_column_file_past_the_size_limit_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MUNCHABLES_MAX_FILE_MB", "0.01")  # 10,000 bytes
    bomb = _inflating(tmp_path / "train.tsv.gz", 100_000)  # 1.9 MB inflated, a few KB on disk
    assert bomb.stat().st_size < 10_000
    with pytest.raises(UserError) as info:
        C.read_column_file(bomb)
    message = str(info.value)
    assert str(bomb) in message and "10,000 bytes once decompressed" in message and "MUNCHABLES_MAX_FILE_MB" in message
    assert "\n" not in message
    monkeypatch.setenv("MUNCHABLES_MAX_FILE_MB", "2")  # the documented way to read a larger file
    assert len(C.read_column_file(bomb)) == 1


def test_a_column_file_is_read_as_it_is_decompressed(tmp_path, monkeypatch):
    """Never the whole file at once: the reader asks for one line at a time, each bounded by the limit."""
    asked = []
    real = gzip.GzipFile.readline
    monkeypatch.setattr(gzip.GzipFile, "readline", lambda self, size=-1: asked.append(size) or real(self, size))
    sentences = C.read_column_file(_inflating(tmp_path / "train.tsv.gz", 1000))
    assert len(sentences) == 1 and len(sentences[0].tokens) == 1000
    assert len(asked) > 1000 and all(0 < size <= C.MAX_COLUMN_FILE_MB * 1_000_000 + 1 for size in asked)


@pytest.mark.parametrize("value", ["0", "-3", "many", "nan"])
def test_a_bad_size_limit_is_named(tmp_path, monkeypatch, value):
    monkeypatch.setenv("MUNCHABLES_MAX_FILE_MB", value)
    with pytest.raises(UserError, match="MUNCHABLES_MAX_FILE_MB"):
        C.read_column_file(_inflating(tmp_path / "train.tsv.gz", 3))
