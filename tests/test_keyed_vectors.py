"""gensim KeyedVectors files, as gensim and Flair write them, read without running code.

The oracle is gensim's own `KeyedVectors.load` on the same files (which does run code, so it is
only used on files these tests made), and Flair's `WordEmbeddings` on a file Flair's format uses
(tests/fixtures/flair, made by make_fixtures.py). Crafted files carry a payload that creates a
marker file when unpickled; each is refused in one line and the marker never appears.
"""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from gensim.models import FastText, KeyedVectors

from munchables.cli import main
from munchables.embeddings.keyed_vectors import load_keyed_vectors
from munchables.embeddings.word_vectors import load_vectors, lookup
from test_safe_loading import Payload, refuses

FIXTURES = Path(__file__).parent / "fixtures" / "flair"
WORDS = ["aspirin", "fever", "asthma", "headache", "caffeine", "morphine"]


def small_kv(dim: int = 5) -> KeyedVectors:
    kv = KeyedVectors(vector_size=dim)
    kv.add_vectors(WORDS, np.random.default_rng(0).standard_normal((len(WORDS), dim)).astype(np.float32))
    kv.set_vecattr("fever", "count", 7)  # an expando array inside the pickle
    return kv


def same(a, b) -> None:
    assert type(a) is type(b)
    assert a.index_to_key == b.index_to_key and a.key_to_index == b.key_to_index
    np.testing.assert_array_equal(np.asarray(a.vectors), np.asarray(b.vectors))


@pytest.mark.parametrize("beside", [False, True])
@pytest.mark.parametrize("name", ["vectors.kv", "pubmed_pmc_wiki_sg_1M.gensim", "no-suffix"])
def test_a_file_gensim_saved_loads_without_trust_as_gensim_loads_it(tmp_path, beside, name):
    path = tmp_path / name
    small_kv().save(str(path), sep_limit=0 if beside else 10 * 1024**2)
    assert (tmp_path / f"{name}.vectors.npy").exists() == beside
    got = load_vectors(path)
    same(got, KeyedVectors.load(str(path)))
    assert got.get_vecattr("fever", "count") == 7


def test_fasttext_keyed_vectors_give_subword_vectors_as_gensim_does(tmp_path):
    sentences = [["aspirin", "relieves", "fever", "and", "headache"]] * 30
    model = FastText(sentences, vector_size=6, min_count=1, bucket=100, min_n=2, max_n=4, epochs=2, seed=1, workers=1)
    path = tmp_path / "ft.kv"
    model.wv.save(str(path), sep_limit=0)
    got, want = load_vectors(path), KeyedVectors.load(str(path))
    same(got, want)
    for word in ("aspirin", "aspirins", "unseenword"):
        np.testing.assert_array_equal(got[word], want[word])


def test_a_gensim_3_file_as_flair_publishes_them_is_upconverted_as_gensim_does(tmp_path):
    """gensim 3's layout (Word2VecKeyedVectors, a `vocab` of Vocab entries, `index2word`), written
    under gensim 3's class names; gensim 4's own loader is the oracle."""
    import sys
    import types

    module = types.ModuleType("gensim.models.keyedvectors")

    class Word2VecKeyedVectors:
        pass

    class Vocab:
        def __init__(self, index, count):
            self.index, self.count = index, count

    for cls in (Word2VecKeyedVectors, Vocab):
        cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
        setattr(module, cls.__name__, cls)
    old = Word2VecKeyedVectors()
    vectors = np.random.default_rng(1).standard_normal((len(WORDS), 4)).astype(np.float32)
    old.__dict__.update({"vectors": None, "vector_size": 4, "index2word": list(WORDS), "vectors_norm": None,
                         "vocab": {w: Vocab(i, 100 - i) for i, w in enumerate(WORDS)},
                         "__numpys": ["vectors"], "__scipys": [], "__ignoreds": ["vectors_norm"],
                         "__recursive_saveloads": []})
    path = tmp_path / "pubmed.gensim"
    real = sys.modules["gensim.models.keyedvectors"]
    sys.modules["gensim.models.keyedvectors"] = module
    try:
        path.write_bytes(pickle.dumps(old, protocol=2))
    finally:
        sys.modules["gensim.models.keyedvectors"] = real
    np.save(tmp_path / "pubmed.gensim.vectors.npy", vectors)
    got = load_vectors(path)
    same(got, KeyedVectors.load(str(path)))
    assert got.get_vecattr("fever", "count") == 99


def test_flairs_word_embeddings_file_gives_flairs_vectors():
    """words.kv was written as Flair's files are and read by Flair's WordEmbeddings (make_fixtures.py)."""
    expected = json.loads((FIXTURES / "expected_words.json").read_text())
    kv = load_vectors(FIXTURES / "words.kv")
    itos = ["<pad>", "<unk>", *expected["words"]]
    found = lookup(kv, itos, str.lower)
    for i, (_word, vector) in enumerate(zip(expected["words"], expected["vectors"]), start=2):
        if any(vector):
            np.testing.assert_allclose(found[i], vector, rtol=0, atol=1e-7)
        else:  # Flair gives a word it lacks zeros; here it gets no vector from the file
            assert i not in found


def test_train_takes_a_keyed_vectors_file_without_trust(tmp_path, tiny_corpus):
    small_kv(dim=8).save(str(tmp_path / "vectors"))
    assert main(["-q", "train", "--target", str(tiny_corpus), "--out", str(tmp_path / "run"), "--hidden", "4",
                 "--word-vectors", str(tmp_path / "vectors"), "--max-epochs", "1", "--device", "cpu"]) == 0


# --- crafted files ---------------------------------------------------------------------------


def saved_state(tmp_path: Path) -> dict:
    """The attributes of a KeyedVectors as gensim pickles them."""
    kv = small_kv()
    kv.save(str(tmp_path / "plain.kv"))
    return KeyedVectors.load(str(tmp_path / "plain.kv")).__dict__.copy()


def write_kv(path: Path, state: dict) -> Path:
    kv = KeyedVectors.__new__(KeyedVectors)
    kv.__dict__.update(state)
    path.write_bytes(pickle.dumps(kv, protocol=4))
    return path


def test_a_payload_in_an_attribute_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    path = write_kv(tmp_path / "evil.kv", {**saved_state(tmp_path), "index_to_key": Payload(marker)})
    pickle.loads(path.read_bytes())  # the oracle: unrestricted unpickling runs it
    assert marker.exists()
    marker.unlink()
    refuses(lambda: load_vectors(path), marker, str(path), "refused", "io.open")


def test_scipys_which_gensim_would_unpickle_are_refused(tmp_path):
    marker = tmp_path / "marker"
    path = write_kv(tmp_path / "evil.kv", {**saved_state(tmp_path), "__scipys": ["extra"]})
    (tmp_path / "evil.kv.extra.npy").write_bytes(pickle.dumps(Payload(marker)))  # gensim unpickles this file
    with pytest.raises(Exception):  # noqa: B017  (whatever gensim raises after the payload ran)
        KeyedVectors.load(str(path))  # the oracle: gensim's loader runs the payload (then fails)
    assert marker.exists()
    marker.unlink()
    refuses(lambda: load_vectors(path), marker, "refused", "__scipys")


def test_recursive_saveloads_are_refused(tmp_path):
    path = write_kv(tmp_path / "evil.kv", {**saved_state(tmp_path), "__recursive_saveloads": ["expandos"]})
    refuses(lambda: load_vectors(path), tmp_path / "marker", "refused", "__recursive_saveloads")


def test_an_object_array_inside_is_refused(tmp_path):
    state = saved_state(tmp_path)
    state["expandos"] = {"count": np.array([1, "two", None], dtype=object)}
    path = write_kv(tmp_path / "evil.kv", state)
    refuses(lambda: load_vectors(path), tmp_path / "marker", "refused", "Python objects")


def test_an_object_array_beside_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    small_kv().save(str(tmp_path / "v.kv"), sep_limit=0)
    np.save(tmp_path / "v.kv.vectors.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    refuses(lambda: load_vectors(tmp_path / "v.kv"), marker, "refused", "v.kv.vectors.npy")


def test_a_stored_array_name_cannot_reach_another_file(tmp_path):
    path = write_kv(tmp_path / "evil.kv", {**saved_state(tmp_path), "__numpys": ["../../etc/x"]})
    refuses(lambda: load_vectors(path), tmp_path / "marker", "not an attribute name")


def test_a_missing_array_beside_is_named(tmp_path):
    small_kv().save(str(tmp_path / "v.kv"), sep_limit=0)
    (tmp_path / "v.kv.vectors.npy").unlink()
    refuses(lambda: load_vectors(tmp_path / "v.kv"), tmp_path / "marker", "v.kv.vectors.npy: missing", "together")


def test_a_whole_model_needs_trust(tmp_path):
    model = FastText([["aspirin", "fever"]] * 5, vector_size=4, min_count=1, bucket=20, epochs=1, workers=1)
    model.save(str(tmp_path / "ft.model"))
    refuses(lambda: load_keyed_vectors(tmp_path / "ft.model"), tmp_path / "marker", "--trust", "not gensim KeyedVectors")
    trusted = load_vectors(tmp_path / "ft.model", trust=True)
    np.testing.assert_array_equal(trusted["fever"], model.wv["fever"])


def test_trust_still_reads_keyed_vectors_without_gensims_loader(tmp_path, monkeypatch):
    from gensim.utils import SaveLoad

    small_kv().save(str(tmp_path / "v.kv"), sep_limit=0)
    want = KeyedVectors.load(str(tmp_path / "v.kv"))
    monkeypatch.setattr(SaveLoad, "load", classmethod(lambda cls, *a, **k: pytest.fail("gensim's loader ran")))
    same(load_vectors(tmp_path / "v.kv", trust=True), want)
