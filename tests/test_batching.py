"""Vocabularies, the Collator's tensors and the batch streams of the Algorithms, checked by hand."""

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch

from munchables.data.batching import Collator, Item, RestartingStream, ShuffledPass, items_of
from munchables.data.corpus import Sentence, load_corpus
from munchables.data.vocab import PAD, UNK, Vocab, Vocabularies, WordVocab, build_vocabularies, normalise, tag_set

# --- vocabularies ---------------------------------------------------------------------------

TRAIN = [
    Sentence(("Aspirin", "cut", "IL-2", "in", "2019", "."), ("B-Chem", "O", "B-Gene", "O", "O", "O")),
    Sentence(("aspirin", "and", "fever"), ("B-Chem", "O", "B-Dis")),
]


@pytest.mark.parametrize("word, form", [
    ("Aspirin", "Aspirin"),  # exact form
    ("aspirin", "aspirin"),  # exact form, also a training word
    ("ASPIRIN", "aspirin"),  # lower-cased
    ("IL-2", "IL-2"),  # exact
    ("IL-7", "il-0"),  # lower case, digits -> 0: the normalised form of the training word IL-2
    ("il-9", "il-0"),
    ("1984", "0000"),  # 2019 -> 0000
    ("Fever", "fever"),
    ("FEVER", "fever"),
    ("fevers", UNK),  # neither form known
    ("Il-2x", UNK),
])
def test_word_lookup_falls_back_as_lample(word, form):
    words = build_vocabularies({"c": TRAIN}).words
    assert words.get(word) == words.stoi[form]


def test_vocab_reserves_padding_and_unknown():
    v = Vocab(["a", "b", "a"])
    assert v.itos == [PAD, UNK, "a", "b"] and len(v) == 4
    assert v.get("zzz") == 1 and "a" in v and "zzz" not in v


def test_build_vocabularies_holds_exact_normalised_and_extra_words():
    vocab = build_vocabularies({"c": TRAIN}, extra_words=["vector-only"])
    expected = {w for s in TRAIN for w in s.tokens} | {normalise(w) for s in TRAIN for w in s.tokens} | {"vector-only"}
    assert set(vocab.words.itos[2:]) == expected
    assert set(vocab.chars.itos[2:]) == {c for s in TRAIN for w in s.tokens for c in w}


@pytest.mark.parametrize("tags, expected", [
    ([["O"]], ["O"]),
    ([["B-Gene", "I-Gene", "O"], ["B-Chem"]], ["O", "B-Chem", "I-Chem", "B-Gene", "I-Gene"]),
    ([["I-Dis"], ["O", "B-Chem"]], ["O", "B-Chem", "I-Chem", "B-Dis", "I-Dis"]),  # I- alone gives both
])
def test_tag_set_is_o_then_b_i_pairs_by_sorted_type(tags, expected):
    assert tag_set(tags) == expected


def test_tags_come_from_all_splits_when_given():
    vocab = build_vocabularies({"c": TRAIN}, all_tags={"c": [s.tags for s in TRAIN] + [("B-Species",)]})
    assert vocab.tags["c"] == ["O", "B-Chem", "I-Chem", "B-Dis", "I-Dis", "B-Gene", "I-Gene", "B-Species", "I-Species"]


def test_vocabularies_round_trip_through_json():
    vocab = build_vocabularies({"c": TRAIN, "d": TRAIN[:1]}, extra_words=["x1"])
    back = Vocabularies.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert isinstance(back.words, WordVocab)
    assert back.to_dict() == vocab.to_dict()
    for word in ["Aspirin", "ASPIRIN", "IL-7", "zzz", "x1"]:
        assert back.words.get(word) == vocab.words.get(word)
    assert back.tag_index("d") == vocab.tag_index("d")


# --- the collator ---------------------------------------------------------------------------


@pytest.fixture
def corpora(tiny_corpora):
    return {name: load_corpus(name, tiny_corpora.data_dir).train for name in ("main", "aux25")}


@pytest.fixture
def collate(corpora):
    return Collator(build_vocabularies(corpora), corpora)


ITEMS = [Item("aux25", 4), Item("main", 1), Item("aux25", 0), Item("main", 7), Item("main", 2)]


def test_collator_pads_words_tags_and_mask(collate, corpora):
    batch = collate(ITEMS)
    sentences = [corpora[i.corpus][i.index] for i in ITEMS]
    lengths = [len(s.tokens) for s in sentences]
    assert batch.words.shape == batch.tags.shape == batch.mask.shape == batch.types.shape == (5, max(lengths))
    assert batch.lengths.tolist() == lengths and len(batch) == 5
    vocab = collate.vocab
    for b, (item, s) in enumerate(zip(ITEMS, sentences)):
        n = lengths[b]
        assert batch.mask[b].tolist() == [True] * n + [False] * (max(lengths) - n)
        assert batch.words[b, :n].tolist() == [vocab.words.get(w) for w in s.tokens]
        assert [vocab.tags[item.corpus][t] for t in batch.tags[b, :n]] == list(s.tags)
        assert not batch.words[b, n:].any() and not batch.tags[b, n:].any() and not batch.types[b, n:].any()
    assert batch.corpora == [i.corpus for i in ITEMS]
    assert [list(t) for t in batch.tokens] == [list(s.tokens) for s in sentences]


def spelled(batch, chars: Vocab, b: int, t: int) -> str:
    return "".join(chars.itos[c] for c in batch.type_chars[batch.types[b, t]].tolist() if c)


def test_types_and_type_chars_spell_every_token(collate):
    batch = collate(ITEMS)
    for b, tokens in enumerate(batch.tokens):
        assert [spelled(batch, collate.vocab.chars, b, t) for t in range(len(tokens))] == list(tokens)
    distinct = {tok for tokens in batch.tokens for tok in tokens}
    assert batch.type_chars.shape == (len(distinct), max(len(w) for w in distinct))  # each type once


def test_unknown_characters_keep_their_place(collate):
    batch = collate.collate_tokens([["café", "aspirin"], ["ω"]], "main")
    assert batch.type_chars[batch.types[0, 0]].tolist()[:4] == [collate.vocab.chars.get(c) for c in "caf"] + [1]
    assert (batch.type_chars > 0).sum(1).tolist() == [4, 7, 1]  # every character is a real one
    assert batch.tags.eq(0).all() and batch.corpora == ["main", "main"]


def test_groups_index_the_rows_of_each_corpus(collate):
    groups = collate(ITEMS).groups
    assert {k: v.tolist() for k, v in groups.items()} == {"aux25": [0, 2], "main": [1, 3, 4]}
    assert all(v.dtype == torch.long for v in groups.values())


def test_batch_to_keeps_every_field(collate):
    batch = collate(ITEMS)
    moved = batch.to(torch.device("cpu"))
    for name in ("words", "mask", "lengths", "types", "type_chars", "tags"):
        assert torch.equal(getattr(moved, name), getattr(batch, name))
    assert moved.corpora == batch.corpora and moved.groups.keys() == batch.groups.keys()


# --- the streams ----------------------------------------------------------------------------

SIZES = [(10, 3), (10, 5), (1, 4), (3, 32), (25, 7), (7, 1)]  # (sentences, batch size)


@pytest.mark.parametrize("n, bs", SIZES)
def test_a_pass_has_ceil_of_n_over_batch_size_batches(n, bs):
    assert len(ShuffledPass(items_of("c", n), bs, np.random.default_rng(0)).epoch()) == math.ceil(n / bs) == -(-n // bs)


@pytest.mark.parametrize("n, bs", SIZES)
def test_shuffled_pass_covers_every_item_once_per_epoch(n, bs):
    items = items_of("c", n)
    shuffled = ShuffledPass(items, bs, np.random.default_rng(1))
    orders = []
    for _ in range(4):
        batches = shuffled.epoch()
        sizes = [len(b) for b in batches]
        assert sizes == [bs] * (n // bs) + ([n % bs] if n % bs else [])  # only the last is shorter
        flat = [i for b in batches for i in b]
        assert sorted(flat) == items
        orders.append(flat)
    if n >= 7:
        assert len({tuple(o) for o in orders}) > 1  # a fresh permutation each epoch


@pytest.mark.parametrize("n, bs", SIZES)
def test_restarting_stream_never_repeats_within_a_pass_and_reshuffles(n, bs):
    items = items_of("c", n)
    stream = RestartingStream(items, bs, np.random.default_rng(2))
    per_pass = math.ceil(n / bs)
    passes = []
    for _ in range(6):
        batches = [stream.next() for _ in range(per_pass)]
        assert [len(b) for b in batches] == [min(bs, n - k * bs) for k in range(per_pass)]
        flat = [i for b in batches for i in b]
        assert sorted(flat) == items  # every sentence once: nothing repeats inside a pass
        passes.append(tuple(flat))
    if n >= 3:
        assert len(set(passes)) > 1  # restarted reshuffled


def test_restarting_stream_serves_any_number_of_steps():
    stream = RestartingStream(items_of("c", 3), 32, np.random.default_rng(0))
    counts = Counter(i for _ in range(50) for i in stream.next())
    assert counts == {Item("c", 0): 50, Item("c", 1): 50, Item("c", 2): 50}


def test_restarting_stream_needs_items():
    with pytest.raises(ValueError, match="at least one sentence"):
        RestartingStream([], 4, np.random.default_rng(0))


def test_streams_are_reproducible_from_the_seed():
    a = RestartingStream(items_of("c", 11), 4, np.random.default_rng(5))
    b = RestartingStream(items_of("c", 11), 4, np.random.default_rng(5))
    assert [a.next() for _ in range(9)] == [b.next() for _ in range(9)]



def test_the_character_cache_stays_bounded_and_answers_the_same(tiny_corpus, monkeypatch):
    """A tagger meets new words without end (issue 22.2's class): the cache of character ids is capped."""
    from munchables.data import batching

    corpus = load_corpus(str(tiny_corpus))
    collate = Collator(build_vocabularies({corpus.name: corpus.train}), {})
    monkeypatch.setattr(batching, "CHAR_CACHE_WORDS", 5)
    words = [f"w{i}x" for i in range(40)] + ["aspirin", "w3x"]
    expected = [[collate.vocab.chars.get(c) for c in w] for w in words]
    assert [collate.chars(w) for w in words] == expected and len(collate._char_cache) <= 5
