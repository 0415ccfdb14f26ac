"""Word embeddings initialised from vector files: word2vec text and binary, fastText .bin."""

import gzip

import numpy as np
import pytest
import torch
from gensim.models import FastText, KeyedVectors
from gensim.models.fasttext import save_facebook_model

from munchables.cli import main
from munchables.embeddings.word_vectors import load_vectors
from munchables.errors import UserError
from munchables.model import ModelConfig
from munchables.pipeline import RunOptions, build_model, load_corpora
from munchables.tagging.tagger import Tagger
from munchables.trainer import TrainConfig

DIM = 6
# file word -> vector; "no" and "000" reach the corpus words "No" and "100" by the fallback,
# "paracetamol" is in no corpus and is added to the vocabulary from the file
VECTORS = {
    word: np.arange(DIM, dtype=np.float32) * 0.25 + i  # distinct, exactly representable values
    for i, word in enumerate(["aspirin", "fever", "no", "000", "heart", "paracetamol"])
}
FALLBACK = {"aspirin": "aspirin", "fever": "fever", "No": "no", "no": "no", "100": "000", "000": "000",
            "heart": "heart", "paracetamol": "paracetamol"}  # vocabulary word -> its file word, by hand
TEST_ONLY = "Naproxen"  # a word of the test split alone, in no vector file


@pytest.fixture
def corpus(tiny_corpus):
    with open(tiny_corpus / "test.tsv", "a", encoding="utf-8") as f:
        f.write(f"\n{TEST_ONLY}\tB-Chemical\n")
    return tiny_corpus


def write_text(path):
    lines = [f"{len(VECTORS)} {DIM}"] + [f"{w} " + " ".join(str(x) for x in v) for w, v in VECTORS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_binary(path):
    kv = KeyedVectors(DIM)
    kv.add_vectors(list(VECTORS), np.stack(list(VECTORS.values())))
    kv.save_word2vec_format(str(path), binary=True)
    return path


def build(corpus, vectors, seed=1):
    options = RunOptions(target=str(corpus), model=ModelConfig(word_dim=20, hidden=8, word_vectors=str(vectors)),
                         train=TrainConfig(seed=seed))
    target, _ = load_corpora(options)
    model, vocab = build_model(options, [target])
    return model, vocab, model.encoder.words.weight.detach()


@pytest.mark.parametrize("write, name", [(write_text, "vectors.txt"), (write_binary, "vectors.bin")])
def test_word2vec_files_initialise_the_rows_of_known_words(corpus, tmp_path, write, name):
    model, vocab, weight = build(corpus, write(tmp_path / name))
    assert model.config.word_dim == DIM == weight.shape[1]
    for word, file_word in FALLBACK.items():
        assert word in vocab.words.stoi
        assert torch.equal(weight[vocab.words.stoi[word]], torch.from_numpy(VECTORS[file_word])), word
    file_rows = {tuple(v) for v in VECTORS.values()}
    others = [i for w, i in vocab.words.stoi.items() if w not in FALLBACK and i > 0]
    assert others and not any(tuple(weight[i].tolist()) in file_rows for i in others)  # random, not copied
    assert vocab.words.get(TEST_ONLY) == 1  # a test-split word without a vector stays unknown


def fasttext_file(path, sentences, **options):
    model = FastText(vector_size=DIM, min_count=1, epochs=2, seed=0, workers=1, **options)
    model.build_vocab(sentences)
    model.train(sentences, total_examples=len(sentences), epochs=2)
    save_facebook_model(model, str(path))
    return model.wv


FT_SENTENCES = [["aspirin", "fever", "heart", "failure"], ["no", "fever", "paracetamol"]] * 3


def test_fasttext_bin_gives_subword_vectors_to_unseen_words(corpus, tmp_path):
    wv = fasttext_file(tmp_path / "ft.bin", FT_SENTENCES, min_n=2, max_n=4, bucket=5000)
    model, vocab, weight = build(corpus, tmp_path / "ft.bin")
    assert model.config.word_dim == DIM
    for word in ("aspirin", "heart", "paracetamol"):  # in the file
        np.testing.assert_allclose(weight[vocab.words.stoi[word]].numpy(), wv[word], rtol=1e-6)
    for word in ("ibuprofen", "Patients", TEST_ONLY):  # not in the file: built from character n-grams
        assert word in vocab.words.stoi and word not in wv.key_to_index
        np.testing.assert_allclose(weight[vocab.words.stoi[word]].numpy(), wv[word], rtol=1e-5, atol=1e-7)
        assert np.abs(wv[word]).sum() > 0


def test_fasttext_bin_without_subwords_leaves_unseen_words_alone(corpus, tmp_path):
    """A .bin trained without n-grams (fastText -maxn 0: bucket 0) has no vector for unseen words."""
    wv = fasttext_file(tmp_path / "ft0.bin", FT_SENTENCES, max_n=0, bucket=0)
    model, vocab, weight = build(corpus, tmp_path / "ft0.bin")
    np.testing.assert_allclose(weight[vocab.words.stoi["aspirin"]].numpy(), wv["aspirin"], rtol=1e-6)
    assert vocab.words.get(TEST_ONLY) == 1


def test_munch_train_with_word_vectors(corpus, tmp_path, tiny_train_args):
    vectors = write_text(tmp_path / "vectors.txt")
    out = tmp_path / "run"
    args = tiny_train_args(corpus, 1, "--word-vectors", str(vectors), "--hidden", "8")
    assert main([*args, "--out", str(out)]) == 0
    tagger = Tagger.load(out)
    assert tagger.model.config.word_dim == DIM and tagger.model.config.word_vectors == str(vectors)
    assert tagger.model.encoder.words.weight.shape == (len(tagger.vocab.words), DIM)


@pytest.mark.parametrize("name, content", [
    ("vectors.txt", b""),
    ("vectors.txt", b"3 5\naspirin 1 2\n"),  # rows shorter than the header says
    ("vectors.txt", b"just some words\nand more\n"),
    ("vectors.vec", b"2 2\n\xff\xfe 1 2\n"),  # not UTF-8
    ("vectors.bin", b"\x00\x01garbage" * 50),
    ("vectors.bin", b""),
])
def test_corrupt_vector_file_is_a_user_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match="cannot read word vectors") as info:
        load_vectors(path)
    assert str(path) in str(info.value)


def test_missing_vector_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="word-vector file not found"):
        load_vectors(tmp_path / "nothing.vec")


def test_truncated_fasttext_bin_is_a_user_error(tmp_path):
    fasttext_file(tmp_path / "ft.bin", FT_SENTENCES, min_n=2, max_n=4, bucket=5000)
    data = (tmp_path / "ft.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="cannot read word vectors"):
        load_vectors(tmp_path / "cut.bin")


def test_nan_vectors_are_named_not_blamed_on_the_learning_rate(corpus, tmp_path, tiny_train_args, capsys):
    """Issue 22.8: training from a file with NaN rows said "try a lower --lr"."""
    broken = dict(VECTORS, fever=np.full(DIM, np.nan, np.float32), heart=np.full(DIM, np.inf, np.float32))
    path = tmp_path / "vectors.txt"
    path.write_text("\n".join([f"{len(broken)} {DIM}"] + [f"{w} " + " ".join(str(x) for x in v)
                                                         for w, v in broken.items()]) + "\n", encoding="utf-8")
    assert main([*tiny_train_args(corpus, 2), "--word-vectors", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "NaN or infinite" in err and "'fever'" in err and "'heart'" in err and str(path) in err
    assert "--lr" not in err and "\n" not in err


def write_gensim(path, binary, header=True):
    kv = KeyedVectors(DIM)
    kv.add_vectors(list(VECTORS), np.stack(list(VECTORS.values())))
    kv.save_word2vec_format(str(path), binary=binary, write_header=header)  # .gz/.bz2/.xz: compressed by gensim
    return path


# The field's files are named every way; the format is told by the content (issue 29's "real files
# from the field"): GoogleNews-vectors-negative300.bin.gz, BioWordVec_PubMed_MIMICIII_d200.vec.bin,
# glove.6B.100d.txt (no "COUNT DIM" line), word2vec text named .bin, binary named .txt or nothing.
@pytest.mark.parametrize("name, binary, header", [
    ("GoogleNews-like.bin.gz", True, True),
    ("BioWordVec-like.vec.bin", True, True),
    ("binary-named.txt", True, True),
    ("binary-without-suffix", True, True),
    ("vectors.bin.bz2", True, True),
    ("text-named.bin", False, True),
    ("vectors.txt.gz", False, True),
    ("vectors.vec.xz", False, True),
    ("glove.6B.6d.txt", False, False),
    ("glove-like.txt.gz", False, False),
    ("glove-without-suffix", False, False),
])
def test_word2vec_and_glove_files_are_read_by_content_whatever_their_name(corpus, tmp_path, name, binary, header):
    path = write_gensim(tmp_path / name, binary, header)
    oracle = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not header)  # gensim, told
    loaded = load_vectors(path)
    assert loaded.index_to_key == oracle.index_to_key == list(VECTORS)
    np.testing.assert_array_equal(loaded.vectors, oracle.vectors)
    model, vocab, weight = build(corpus, path)
    for word, file_word in FALLBACK.items():
        assert torch.equal(weight[vocab.words.stoi[word]], torch.from_numpy(VECTORS[file_word])), word


@pytest.mark.parametrize("name", ["model-without-suffix", "ft.vec"])
def test_a_fasttext_model_is_known_by_its_magic_number_whatever_its_name(corpus, tmp_path, name):
    wv = fasttext_file(tmp_path / name, FT_SENTENCES, min_n=2, max_n=4, bucket=5000)
    loaded = load_vectors(tmp_path / name)
    for word in ("aspirin", "ibuprofen", TEST_ONLY):  # in the file, and built from n-grams
        np.testing.assert_allclose(loaded[word], wv[word], rtol=1e-6, atol=1e-7)


def test_a_compressed_fasttext_model_says_to_decompress_it(tmp_path):
    """As Facebook publishes them (cc.en.300.bin.gz): gensim's reader cannot take it compressed."""
    fasttext_file(tmp_path / "ft.bin", FT_SENTENCES, min_n=2, max_n=4, bucket=5000)
    (tmp_path / "cc.bin.gz").write_bytes(gzip.compress((tmp_path / "ft.bin").read_bytes()))
    with pytest.raises(UserError, match=r"a compressed fastText model.*gunzip -k .*cc.bin.gz"):
        load_vectors(tmp_path / "cc.bin.gz")


def test_a_file_that_fails_says_what_it_was_read_as(tmp_path):
    path = tmp_path / "vectors.bin"
    path.write_bytes(b"2 3\naspirin \x00\x00\x80\x3f\x00")  # a binary record cut short
    with pytest.raises(UserError, match=r"read as word2vec binary, by its content") as info:
        load_vectors(path)
    assert "\n" not in str(info.value)
