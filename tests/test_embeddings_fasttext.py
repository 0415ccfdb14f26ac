"""Unlabelled text from the corpora (never test), fastText vectors trained on it, a tagger using them."""


import numpy as np
import pytest

from munchables import Tagger
from munchables.cli import main
from munchables.data.corpus import load_corpus
from munchables.data.text import write_text as write_text_file
from munchables.embeddings.word_vectors import has_subwords, load_vectors
from munchables.errors import UserError
from test_embeddings_helpers import make_corpus, tiny_train_args, write_text


def test_munch_text_writes_train_and_dev_sentences_never_test(tmp_path):
    corpus = make_corpus(tmp_path / "c", name_of_test_word="tumour")
    out = write_text(tmp_path, corpus)
    lines = out.read_text(encoding="utf-8").splitlines()
    c = load_corpus(str(corpus))
    expected = list(dict.fromkeys(" ".join(s.tokens) for s in c.train + c.dev))  # each distinct line once
    assert lines == expected
    assert not any("tumour" in line for line in lines)  # the test split's own word


def test_raw_text_is_tokenised_like_the_corpora(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("IL-2 binds p53/p21. The 5-FU dose was 2.5 mg.\n", encoding="utf-8")
    result = write_text_file(tmp_path / "out.txt", raw=[raw])
    assert result["sentences"] == 2
    assert (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines() == [
        "IL - 2 binds p53 / p21 .", "The 5 - FU dose was 2 . 5 mg .",
    ]


def test_raw_text_is_read_a_paragraph_at_a_time_with_the_sentences_of_the_whole(tmp_path, monkeypatch):
    """Raw text streams in paragraphs (bounded memory): the sentences are those of the text tokenised
    whole, and a paragraph cut after RAW_BLOCK characters only cuts at a line break; a file with no
    line break past MAX_LINE_BYTES is one line of error, never read whole."""
    from munchables.data import text
    from munchables.data.tokenize import tokenize

    paragraphs = ["IL-2 binds p53/p21. The 5-FU dose\nwas 2.5 mg.", "Aspirin (ASA) was given.\nNo fever was seen.",
                  "BRCA1 mutations\u2028in 12% of cases."]
    raw = "\n\n".join(paragraphs * 20) + "\n"
    (tmp_path / "raw.txt").write_text(raw, encoding="utf-8")
    whole = [" ".join(t for t, _, _ in s) for s in tokenize(raw)]
    assert list(text.raw_lines(tmp_path / "raw.txt")) == whole
    monkeypatch.setattr(text, "RAW_BLOCK", 30)  # blocks cut inside paragraphs: every token still there, in order
    assert " ".join(text.raw_lines(tmp_path / "raw.txt")).split() == " ".join(whole).split()
    monkeypatch.setattr(text, "MAX_LINE_BYTES", 100)
    (tmp_path / "one.txt").write_text("word " * 1000, encoding="utf-8")
    with pytest.raises(UserError, match=r"one.txt:1: a line longer than 100 bytes"):
        list(text.raw_lines(tmp_path / "one.txt"))
    with pytest.raises(UserError, match=r"one.txt:1: a line longer than 100 bytes"):
        list(text.text_lines(tmp_path / "one.txt"))


def test_munch_text_without_sources_is_a_user_error(tmp_path, capsys):
    assert main(["text", "--out", str(tmp_path / "x.txt")]) == 2
    assert "--corpora" in capsys.readouterr().err


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    d = tmp_path_factory.mktemp("ft")
    corpus = make_corpus(d / "corpus", sizes=(40, 10, 10))
    text = write_text(d, corpus)
    out = d / "vectors.bin"
    assert main(["-q", "vectors", "--text", str(text), "--out", str(out), "--dim", "12", "--min-count", "1",
                 "--epochs", "3", "--buckets", "2000", "--threads", "1"]) == 0
    return d, corpus, out


def test_fasttext_vectors_load_with_sub_words_and_give_unseen_words_a_vector(vectors):
    _, _, path = vectors
    kv = load_vectors(path)
    assert has_subwords(kv) and kv.vector_size == 12
    assert "cancer" in kv.key_to_index and "cancerous" not in kv.key_to_index
    unseen = kv["cancerous"]  # built from its character n-grams, shared with "cancer"
    assert np.abs(unseen).sum() > 0
    assert not np.allclose(unseen, kv["zzzqqq"])


def test_a_tagger_trained_with_the_vectors_starts_from_them_and_round_trips(vectors, tmp_path):
    d, corpus, path = vectors
    out = tmp_path / "run"
    assert main(tiny_train_args(corpus, out, "--word-vectors", str(path))) == 0
    tagger = Tagger.load(out)
    kv = load_vectors(path)
    c = load_corpus(str(corpus))
    train_words = {w for s in c.train for w in s.tokens}
    test_only = [w for s in c.test for w in s.tokens if w not in train_words]
    assert test_only == ["tumour"]  # in no training batch, so its row is still the fastText vector
    row = tagger.model.encoder.words.weight[tagger.vocab.words.get("tumour")].detach().numpy()
    np.testing.assert_allclose(row, kv["tumour"], rtol=1e-6)
    assert tagger.model.config.word_dim == 12 and tagger.model.config.word_vectors == str(path)
    sentences = [s.tokens for s in c.test]
    assert Tagger.load(out).tag(sentences) == tagger.tag(sentences)


def test_vectors_need_a_bin_name(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("a b c\n", encoding="utf-8")
    assert main(["vectors", "--text", str(text), "--out", str(tmp_path / "v.vec")]) == 2
    assert "name the file .bin" in capsys.readouterr().err


def test_a_text_too_rare_for_min_count_leaves_gensims_logger_as_it_was(tmp_path, capsys):
    import logging

    pytest.importorskip("gensim")
    gensim_log = logging.getLogger("gensim.models.word2vec")
    before = (gensim_log.level, list(gensim_log.filters))
    text = tmp_path / "t.txt"
    text.write_text("a b c\n", encoding="utf-8")
    assert main(["vectors", "--text", str(text), "--out", str(tmp_path / "v.bin"), "--min-count", "5"]) == 2
    assert "no word occurs 5 times" in capsys.readouterr().err
    assert (gensim_log.level, list(gensim_log.filters)) == before
