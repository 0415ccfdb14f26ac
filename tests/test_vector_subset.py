"""Vector subsets (`munch vector-subset`) train the same models as the whole file.

A subset keeps, of a word-vector file, what training on some corpora looks up; the models built
from it must start from the very same embedding matrix (bit for bit) and their trials must keep the
whole file's key, or a run split across machines would mix two experiments.
"""

import numpy as np
import pytest
import torch
from gensim.models import FastText, KeyedVectors
from gensim.models.fasttext import save_facebook_model

from munchables.cli import main
from munchables.embeddings.word_vectors import VectorSubset, file_sha256, load_vectors
from munchables.errors import UserError
from munchables.experiments.protocol import make_protocol
from munchables.model import ModelConfig
from munchables.pipeline import RunOptions, build_model, load_corpora
from munchables.trainer import TrainConfig

DIM = 6
# sentences for the vector files: some words in the tiny corpora's forms, some lower-cased only
# ("no" answers for the corpus word "No" by the fallback), some in no corpus
SENTENCES = [["aspirin", "fever", "heart", "failure", "no", "000"], ["paracetamol", "fever", "patients"]] * 3


def fasttext_file(path, **options):
    model = FastText(vector_size=DIM, min_count=1, epochs=2, seed=0, workers=1, **options)
    model.build_vocab(SENTENCES)
    model.train(SENTENCES, total_examples=len(SENTENCES), epochs=2)
    save_facebook_model(model, str(path))
    return path


def word2vec_file(path):
    kv = KeyedVectors(DIM)
    words = sorted({w for s in SENTENCES for w in s})
    kv.add_vectors(words, np.arange(len(words) * DIM, dtype=np.float32).reshape(len(words), DIM) / 8)
    kv.save_word2vec_format(str(path), binary=False)
    return path


def build(corpora_dir, target, aux, vectors):
    options = RunOptions(target=target, method="conc", aux=aux, data_dir=str(corpora_dir),
                         model=ModelConfig(word_dim=20, hidden=8, word_vectors=str(vectors)), train=TrainConfig(seed=1))
    main_corpus, aux_corpora = load_corpora(options)
    assert [c.name for c in aux_corpora] == aux
    model, vocab = build_model(options, [main_corpus, *aux_corpora])
    return vocab, model.encoder.words.weight.detach().clone()


@pytest.mark.parametrize("kind", ["fasttext", "fasttext-no-ngrams", "word2vec"])
def test_subset_gives_the_same_vocabulary_and_embeddings_as_the_whole_file(tiny_corpora, tmp_path, kind):
    whole = {"fasttext": lambda p: fasttext_file(p, min_n=2, max_n=4, bucket=5000),
             "fasttext-no-ngrams": lambda p: fasttext_file(p, max_n=0, bucket=0),
             "word2vec": word2vec_file}[kind](tmp_path / ("vectors.txt" if kind == "word2vec" else "vectors.bin"))
    subset = tmp_path / "subset.npz"
    assert main(["-q", "vector-subset", "--vectors", str(whole), "--corpora", "main,aux7", "--out", str(subset),
                 "--data-dir", str(tiny_corpora.data_dir), "--no-fetch"]) == 0
    vocab_a, weight_a = build(tiny_corpora.data_dir, "main", ["aux7"], whole)
    vocab_b, weight_b = build(tiny_corpora.data_dir, "main", ["aux7"], subset)
    assert vocab_a.words.itos == vocab_b.words.itos
    assert torch.equal(weight_a, weight_b)
    copied = [i for i, w in enumerate(vocab_a.words.itos) if w in {"aspirin", "no", "No", "patients"}]
    assert copied  # the comparison covers rows taken from the file, not only random ones
    assert VectorSubset.load(subset).source_sha256 == file_sha256(whole)


def test_subset_is_refused_for_a_corpus_it_was_not_made_for(tiny_corpora, tmp_path):
    whole = fasttext_file(tmp_path / "vectors.bin", min_n=2, max_n=4, bucket=5000)
    subset = tmp_path / "subset.npz"
    assert main(["-q", "vector-subset", "--vectors", str(whole), "--corpora", "main", "--out", str(subset),
                 "--data-dir", str(tiny_corpora.data_dir), "--no-fetch"]) == 0
    with open(tiny_corpora.data_dir / "aux25" / "dev.tsv", "a", encoding="utf-8") as f:
        f.write("\nZolmitriptan\tB-Chemical\n")  # a word of aux25 alone: the subset never saw it
    with pytest.raises(UserError, match="not made for aux25"):
        build(tiny_corpora.data_dir, "main", ["aux25"], subset)


def test_subset_keeps_the_trial_keys_of_the_whole_file(tiny_corpora, tmp_path):
    whole = fasttext_file(tmp_path / "vectors.bin", min_n=2, max_n=4, bucket=5000)
    subset = tmp_path / "subset.npz"
    assert main(["-q", "vector-subset", "--vectors", str(whole), "--corpora", "main,aux3,aux7,aux25", "--out",
                 str(subset), "--data-dir", str(tiny_corpora.data_dir), "--no-fetch"]) == 0

    def keys(vectors):
        protocol = make_protocol(targets=["main"], methods=["single-task"], preset="lowres-cpu", seeds=2,
                                 data_dir=str(tiny_corpora.data_dir), word_vectors=str(vectors))
        return protocol.vectors_sha256, [protocol.trial("main", "single-task", [], (32, 0.1), "final", seed).key
                                         for seed in (1, 2)]

    assert keys(subset) == keys(whole)
    assert keys(subset)[0] == file_sha256(whole) != file_sha256(subset)


def test_subset_file_is_read_without_unpickling(tmp_path):
    crafted = tmp_path / "crafted.npz"
    np.savez(crafted, format=np.array("munchables-vector-subset/1"), words=np.array([{"a": 1}], dtype=object))
    with pytest.raises(UserError, match="cannot read a vector subset"):
        load_vectors(crafted)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(UserError, match="not a munchables vector subset"):
        load_vectors(other)


@pytest.mark.parametrize("rows, top", [(2, 0), (3, 5), (0, 0)])
def test_a_subset_whose_rows_do_not_match_its_words_is_one_line(tmp_path, rows, top):
    """Issue 22.6: fewer rows than words gave an IndexError traceback when a word's vector was looked up."""
    from munchables.embeddings.word_vectors import SUBSET_FORMAT, _pack

    bad = tmp_path / "bad.npz"
    np.savez(bad, format=np.array(SUBSET_FORMAT), words=_pack(["aspirin", "fever", "no"]),
             vectors=np.ones((rows, 4), np.float32), top=np.array(top), asked=_pack([]),
             source_sha256=np.array("0" * 64), source_name=np.array("vectors.bin"))
    with pytest.raises(UserError, match=r"damaged vector subset: 3 words but vectors of shape") as info:
        load_vectors(bad)
    assert "\n" not in str(info.value)
