"""A trained tagger: saving and loading, tagging token lists, entities with offsets in raw text."""

import pytest
import torch

from munchables.data.corpus import load_corpus
from munchables.data.tokenize import tokenize
from munchables.data.vocab import build_vocabularies
from munchables.errors import UserError
from munchables.evaluate import entities
from munchables.model import ModelConfig, MultiTaskTagger
from munchables.tagging import heads as tagging
from munchables.tagging.heads import Span
from munchables.tagging.tagger import MODEL_FILE, Tagger
from munchables.util.device import pick_device

CPU = torch.device("cpu")


@pytest.fixture
def random_tagger(tiny_corpus):
    """An untrained tagger with random weights: its tags are arbitrary, so they vary."""
    corpus = load_corpus(str(tiny_corpus))
    vocab = build_vocabularies({corpus.name: corpus.train, "other": corpus.train[:5]})
    torch.manual_seed(0)
    config = ModelConfig(word_dim=10, char_dim=5, char_hidden=4, hidden=8)
    model = MultiTaskTagger(config, len(vocab.words), len(vocab.chars), {c: len(t) for c, t in vocab.tags.items()})
    with torch.no_grad():  # larger emissions than the initialisation gives: more varied paths
        for p in model.parameters():
            p.mul_(4)
    return Tagger(model, vocab, corpus.name, CPU), corpus


def token_lists(corpus):
    return [list(s.tokens) for s in corpus.dev + corpus.test] + [["unseen", "Wörds", "42"]]


def test_save_load_round_trip_gives_identical_tags(random_tagger, tmp_path):
    tagger, corpus = random_tagger
    sentences = token_lists(corpus)
    before = tagger.tag(sentences)
    assert len({tag for tags in before for tag in tags}) > 1  # not all "O": the comparison means something
    path = tagger.save(tmp_path / "models" / "a")  # directories made as needed
    assert path == tmp_path / "models" / "a" / MODEL_FILE
    for where in (path.parent, path):  # the directory or the file itself
        loaded = Tagger.load(where, "cpu")
        assert loaded.target == tagger.target and loaded.corpora == tagger.corpora
        assert loaded.vocab.to_dict() == tagger.vocab.to_dict()
        assert loaded.model.config == tagger.model.config
        state = loaded.model.state_dict()
        assert all(torch.equal(state[k], v) for k, v in tagger.model.state_dict().items())
        assert loaded.tag(sentences) == before
        assert loaded.tag(sentences, corpus="other") == tagger.tag(sentences, corpus="other")


def test_tag_keeps_order_and_empty_sentences_whatever_the_batch_size(random_tagger):
    tagger, corpus = random_tagger
    sentences = token_lists(corpus)[:9]
    sentences.insert(3, [])
    alone = [tagger.tag([s])[0] if s else [] for s in sentences]
    assert alone[3] == []
    for batch_size in (1, 2, 256):
        assert tagger.tag(sentences, batch_size=batch_size) == alone
    assert [len(t) for t in alone] == [len(s) for s in sentences]


def test_tag_with_an_unknown_head_is_a_user_error(random_tagger):
    tagger, _ = random_tagger
    with pytest.raises(UserError, match="no head for 'nosuch'"):
        tagger.tag([["a"]], corpus="nosuch")


def write_bytes(data):
    return lambda path: path.write_bytes(data)


def truncated_model(path, random_tagger):
    full = random_tagger[0].save(path.parent / "whole")
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])


@pytest.mark.parametrize("make, message", [
    (None, "no trained model here"),  # nothing at all
    (lambda p: p.mkdir(), "no trained model here"),  # a directory without model.pt
    (write_bytes(b""), "cannot read the model"),
    (write_bytes(b"\x00garbage\xff" * 100), "cannot read the model"),
    (lambda p: torch.save({"weights": torch.zeros(2)}, p), "not a munchables model"),
    (lambda p: torch.save([1, 2, 3], p), "not a munchables model"),
    ("truncated", "cannot read the model"),
])
def test_load_of_anything_but_a_model_is_a_user_error(tmp_path, random_tagger, make, message):
    path = tmp_path / "thing"
    if make == "truncated":
        truncated_model(path, random_tagger)
    elif make is not None:
        make(path)
    with pytest.raises(UserError, match=message) as info:
        Tagger.load(path)
    assert str(path) in str(info.value)


def test_predict_offsets_by_hand(random_tagger, monkeypatch):
    """Entity offsets from a stub that tags chemicals by their tokens, against offsets counted by hand."""
    tagger, _ = random_tagger
    chem = {"aspirin": "B-Chemical", "nitric": "B-Chemical", "oxide": "I-Chemical"}

    def stub(model, collate, heads, token_lists, device, batch_size, cancelled=None):
        return [[Span("tiny", t, s, e, 0.5) for t, s, e in entities([chem.get(w.lower(), "O") for w in tokens])]
                for tokens in token_lists]

    monkeypatch.setattr(tagging, "tag_spans", stub)
    text = "We gave nitric  oxide and\taspirin.\r\nThen (Aspirin)!"
    assert tagger.predict(text) == [
        {"text": "nitric  oxide", "type": "Chemical", "head": "tiny", "start": 8, "end": 21, "score": 0.5},
        {"text": "aspirin", "type": "Chemical", "head": "tiny", "start": 26, "end": 33, "score": 0.5},
        {"text": "Aspirin", "type": "Chemical", "head": "tiny", "start": 42, "end": 49, "score": 0.5},
    ]


TEXT = "Patients treated with aspirin reported heart failure. No fever was seen after\nibuprofen ."


def test_predict_with_a_trained_model(tiny_run):
    tagger = Tagger.load(tiny_run.out)
    found = tagger.predict(TEXT)
    for entity in found:
        assert TEXT[entity["start"]:entity["end"]] == entity["text"]
    assert [(e["text"], e["type"]) for e in found] == [
        ("aspirin", "Chemical"), ("heart failure", "Disease"), ("fever", "Disease"), ("ibuprofen", "Chemical")]
    # the same entities as tagging the tokenised text
    tags = tagger.tag([[t for t, _, _ in s] for s in tokenize(TEXT)])
    assert sum(t.startswith("B-") for s in tags for t in s) == len(found)


def test_pick_device():
    assert pick_device("cpu") == CPU
    assert pick_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_pick_device_cuda_without_cuda_is_a_user_error(name):
    with pytest.raises(UserError, match="no CUDA device"):
        pick_device(name)
