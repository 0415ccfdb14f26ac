"""Contextual string embeddings: the right LM states, computed once, frozen, saved with the tagger."""

import json

import pytest
import torch

from munchables import Tagger
from munchables.cli import main
from munchables.embeddings import contextual
from munchables.embeddings.cache import DiskCache, MemoryCache
from munchables.embeddings.charlm import UNKNOWN, CharLM, CharLMConfig
from munchables.embeddings.contextual import ContextualStringEmbeddings
from munchables.errors import UserError
from test_embeddings_helpers import make_corpus, tiny_train_args, train_lm, write_text


def random_lm(direction: str, hidden: int, seed: int) -> CharLM:
    torch.manual_seed(seed)
    chars = [UNKNOWN, "\n", " "] + list("abcdefghijklmnopqrstuvwxyzBR0123456789.-")
    return CharLM(CharLMConfig(direction=direction, hidden=hidden, char_dim=5), chars).eval()


@pytest.fixture(scope="module")
def lms():
    return random_lm("forward", 6, 1), random_lm("backward", 7, 2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny corpus, two tiny LMs trained on its text, and a tagger trained with them."""
    d = tmp_path_factory.mktemp("cse")
    corpus = make_corpus(d / "corpus")
    text = write_text(d, corpus)
    fwd, bwd = train_lm(text, d / "fwd.pt", "forward"), train_lm(text, d / "bwd.pt", "backward")
    out = d / "run"
    assert main(tiny_train_args(corpus, out, "--charlm-forward", str(fwd), "--charlm-backward", str(bwd))) == 0
    return d, corpus, fwd, bwd, out


def last_state(lm: CharLM, text: str) -> torch.Tensor:
    """The LM's output after reading all of `text` (given in reading order), by itself."""
    ids = torch.tensor([[lm.index.get(c, 0) for c in text]])
    with torch.no_grad():
        out, _ = lm(ids)
    return out[0, -1]


def test_each_word_gets_the_forward_state_after_its_last_char_and_the_backward_state_before_its_first(lms):
    fwd, bwd = lms
    cse = ContextualStringEmbeddings(fwd, bwd)
    tokens = ["BRCA1", "-", "mutated", "cells", "."]
    text = " ".join(tokens)
    got = cse.embed([tokens, ["a"]])[0]
    assert got.shape == (5, 13)
    start = 0
    for k, token in enumerate(tokens):
        end = start + len(token)
        forward = last_state(fwd, "\n" + text[:end])  # read up to and including the last character
        backward = last_state(bwd, (text[start:] + "\n")[::-1])  # read from the end back to the first
        torch.testing.assert_close(got[k], torch.cat([forward, backward]))
        start = end + 1


def test_a_sentence_gets_the_same_vectors_in_any_batch(lms):
    cse = ContextualStringEmbeddings(*lms)
    alone = cse.embed([["cells", "die"]])[0]
    batched = cse.embed([["a", "much", "longer", "sentence", "here"], ["cells", "die"]])[1]
    torch.testing.assert_close(alone, batched)


@pytest.mark.parametrize("cache", ["memory", "disk"])
def test_the_cache_returns_identical_tensors_and_runs_the_lms_only_on_new_sentences(lms, cache, tmp_path):
    store = MemoryCache() if cache == "memory" else DiskCache(tmp_path)
    cse = ContextualStringEmbeddings(*lms, cache=store)
    class B:  # what the features read of a Batch: its tokens and mask
        def __init__(self, tokens):
            self.tokens = tokens
            self.mask = torch.ones(len(tokens), max(map(len, tokens)), dtype=torch.bool)

    one, two, three = ("a", "b"), ("cells", "die", "."), ("x",)
    first = cse(B([one, two]))  # (2, 3, 13)
    assert cse.lm_calls == 1 and store.misses == 2 and store.hits == 0
    again = cse(B([two, one]))
    assert cse.lm_calls == 1 and store.hits == 2
    assert torch.equal(again[0], first[1]) and torch.equal(again[1, :2], first[0, :2])
    assert torch.equal(again[1, 2], torch.zeros(13))  # padding
    mixed = cse(B([three, one]))
    assert cse.lm_calls == 2 and store.misses == 3 and len(store) == 3
    torch.testing.assert_close(mixed[0, :1], cse.embed([three])[0])


def test_disk_cache_removes_its_folder_when_closed(tmp_path):
    store = DiskCache(tmp_path)
    store.get_many([("a",)], lambda ss: [torch.ones(1, 3)])
    folder = store.folder
    assert folder.exists() and torch.equal(store.get_many([("a",)], None)[0], torch.ones(1, 3))
    store.close()
    assert not folder.exists()


def test_directions_are_checked(lms):
    fwd, bwd = lms
    with pytest.raises(UserError, match="--charlm-forward needs a forward"):
        ContextualStringEmbeddings(bwd, fwd)


def test_training_computes_each_sentence_once_and_keeps_the_lms_frozen(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "corpus")
    text = write_text(tmp_path, corpus)
    fwd, bwd = train_lm(text, tmp_path / "f.pt", "forward"), train_lm(text, tmp_path / "b.pt", "backward")
    computed = []
    original = ContextualStringEmbeddings.embed

    def counting(self, sentences):
        computed.extend(tuple(s) for s in sentences)
        return original(self, sentences)

    monkeypatch.setattr(ContextualStringEmbeddings, "embed", counting)
    out = tmp_path / "run"
    args = tiny_train_args(corpus, out, "--charlm-forward", str(fwd), "--charlm-backward", str(bwd))
    args[args.index("--max-epochs") + 1] = "3"
    assert main(args) == 0
    from munchables.data.corpus import load_corpus

    c = load_corpus(str(corpus))
    distinct = {s.tokens for split in (c.train, c.dev, c.test) for s in split}
    assert sorted(computed) == sorted(distinct)  # 3 epochs and 3 dev evaluations: each sentence computed once
    tagger = Tagger.load(out)
    saved = tagger.model.encoder.features[0]
    for lm, path in ((saved.forward_lm, fwd), (saved.backward_lm, bwd)):
        for k, v in CharLM.load(path).state_dict().items():
            assert torch.equal(lm.state_dict()[k], v), k


def test_a_saved_tagger_carries_its_language_models_and_tags_identically(trained):
    d, corpus, fwd, bwd, out = trained
    from munchables.data.corpus import load_corpus

    sentences = [s.tokens for s in load_corpus(str(corpus)).test]
    before = Tagger.load(out).tag(sentences)
    config = json.loads((out / "config.json").read_text())["model"]
    assert config["charlm_forward"] == str(fwd) and config["charlm_backward"] == str(bwd)
    fwd.rename(d / "moved-f.pt")  # the tagger needs no LM file any more
    bwd.rename(d / "moved-b.pt")
    try:
        tagger = Tagger.load(out)
        assert tagger.tag(sentences) == before
        assert tagger.model.encoder.features[0].out_dim == 32
    finally:
        (d / "moved-f.pt").rename(fwd)
        (d / "moved-b.pt").rename(bwd)


def test_a_missing_language_model_file_is_named(trained, capsys):
    d, corpus, fwd, bwd, _ = trained
    missing = d / "nope.pt"
    assert main(tiny_train_args(corpus, d / "x", "--charlm-forward", str(missing), "--charlm-backward", str(bwd))) == 2
    assert f"--charlm-forward {missing}: file not found" in capsys.readouterr().err
    assert main(tiny_train_args(corpus, d / "x", "--charlm-forward", str(fwd))) == 2
    assert "need both language models" in capsys.readouterr().err
    assert main(tiny_train_args(corpus, d / "x", "--charlm-forward", str(bwd), "--charlm-backward", str(fwd))) == 2
    assert "swap the two files" in capsys.readouterr().err


def test_a_projection_trains_and_is_saved_while_the_lms_stay_frozen(trained, tmp_path):
    d, corpus, fwd, bwd, _ = trained
    out = tmp_path / "projected"
    assert main(tiny_train_args(corpus, out, "--charlm-forward", str(fwd), "--charlm-backward", str(bwd),
                                "--charlm-projection", "5")) == 0
    tagger = Tagger.load(out)
    cse = tagger.model.encoder.features[0]
    assert cse.out_dim == 5 and cse.projection.weight.shape == (5, 32) and cse.projection.weight.requires_grad
    assert not any(p.requires_grad for p in cse.forward_lm.parameters())
    for k, v in CharLM.load(fwd).state_dict().items():
        assert torch.equal(cse.forward_lm.state_dict()[k], v), k
    from munchables.data.corpus import load_corpus

    sentences = [s.tokens for s in load_corpus(str(corpus)).test]
    assert Tagger.load(out).tag(sentences) == tagger.tag(sentences)


# --- bounded memory (issue 22.2) ----------------------------------------------------------------


def test_long_sentences_read_in_windows_give_the_states_of_one_pass(lms, monkeypatch):
    """Windows of 7 characters, groups of at most 20 cells: the same states as reading each string alone."""
    monkeypatch.setattr(contextual, "LM_WINDOW", 7)
    monkeypatch.setattr(contextual, "LM_CELLS", 20)
    fwd, bwd = lms
    cse = ContextualStringEmbeddings(fwd, bwd)
    sentences = [["acgt" * 10, "in", "BRCA1", "."], ["a"], ["no", "fever", "-", "0.5"]]
    for tokens, got in zip(sentences, cse.embed(sentences)):
        text, start = " ".join(tokens), 0
        for k, token in enumerate(tokens):
            end = start + len(token)
            want = torch.cat([last_state(fwd, "\n" + text[:end]), last_state(bwd, (text[start:] + "\n")[::-1])])
            torch.testing.assert_close(got[k], want)
            start = end + 1


def test_a_ten_thousand_letter_word_is_read_in_bounded_pieces(lms):
    fwd, bwd = lms
    seen = []
    for lm in lms:
        lm.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    try:
        ContextualStringEmbeddings(fwd, bwd).embed([["acgt" * 2500, "."]] + [["word", str(i)] for i in range(300)])
    finally:
        for lm in lms:
            lm._forward_hooks.clear()
    assert seen and max(b * w for b, w in seen) <= contextual.LM_CELLS and max(w for _, w in seen) <= contextual.LM_WINDOW
