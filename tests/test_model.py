"""The model against oracles: torch's packed bidirectional LSTM, sentences scored one at a time."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from munchables import model as model_module
from munchables.data import batching
from munchables.data.batching import MAX_WORD_CHARS, Collator, Item, ShuffledPass, items_of
from munchables.data.corpus import Sentence, load_corpus
from munchables.data.vocab import build_vocabularies
from munchables.evaluate import score
from munchables.model import BiLSTM, CharEncoder, CharFeatures, Dropout, ModelConfig, MultiTaskTagger, reversal_index
from munchables.tagging.tagger import decode

LENGTHS = [[1], [4, 4], [5, 3, 1, 4], [1, 7, 2], [6, 6, 1, 3, 2], [12, 1, 2, 1, 3, 2, 1, 9, 2, 1]]


def packed_twin(lstm: BiLSTM) -> nn.LSTM:
    """`nn.LSTM(bidirectional=True)` holding the weights of our two one-way LSTMs."""
    fwd, bwd = lstm.forward_lstm, lstm.backward_lstm
    twin = nn.LSTM(fwd.input_size, fwd.hidden_size, batch_first=True, bidirectional=True).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(twin, f"{name}_l0").copy_(getattr(fwd, f"{name}_l0"))
            getattr(twin, f"{name}_l0_reverse").copy_(getattr(bwd, f"{name}_l0"))
    return twin


def padded(lengths, dim, seed):
    """(B, T, dim) random inputs with NaN in every padded position, and the (B, T) mask."""
    gen = torch.Generator().manual_seed(seed)
    T = max(lengths)
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]  # (B, T)
    x = torch.randn(len(lengths), T, dim, generator=gen, dtype=torch.float64)
    return torch.where(mask[..., None], x, float("nan")), mask


def test_reversal_index_by_hand():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert reversal_index(mask).tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]


@pytest.mark.parametrize("groups", [1, 3])  # 3: the last case runs in length groups on the CPU
@pytest.mark.parametrize("lengths", LENGTHS)
def test_bilstm_equals_packed_bidirectional_lstm(lengths, groups):
    torch.manual_seed(0)
    ours = BiLSTM(5, 4, cpu_groups=groups).double()
    x, mask = padded(lengths, 5, seed=len(lengths))
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(packed_twin(ours)(packed)[0], batch_first=True)  # (B, T, 2H)
    out, _ = ours(x, mask)  # (B, T, 2H)
    assert out.shape == (len(lengths), max(lengths), 8)
    assert torch.isfinite(out[mask]).all()  # the NaN padding reached no real position
    torch.testing.assert_close(out[mask], expected[mask])


@pytest.mark.parametrize("lengths", LENGTHS)
def test_char_encoder_returns_the_final_states_of_both_directions(lengths):
    torch.manual_seed(1)
    enc = CharEncoder(n_chars=12, dim=5, hidden=3).double()
    gen = torch.Generator().manual_seed(7)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]  # (U, L)
    chars = torch.where(mask, torch.randint(1, 12, mask.shape, generator=gen), 0)  # (U, L), 0 = padding
    packed = pack_padded_sequence(enc.embed(chars), torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    _, (h_n, _) = packed_twin(enc.lstm)(packed)  # h_n: (2, U, Ch), forward then backward
    torch.testing.assert_close(enc(chars, mask), torch.cat([h_n[0], h_n[1]], dim=-1))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_keeps_1_minus_p_and_rescales(p):
    torch.manual_seed(0)
    drop = Dropout(p)
    x = torch.full((400, 500), 3.0)  # 200,000 entries: the kept share is within 0.005 of 1 - p
    y = drop.train()(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.005
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 3.0 / (1 - p)))
    assert not torch.equal(drop(x) != 0, kept)  # a fresh mask each call
    assert torch.equal(drop.eval()(x), x)


def test_dropout_zero_is_identity_in_training():
    x = torch.randn(30, 40)
    assert torch.equal(Dropout(0.0).train()(x), x)


# --- the multi-task tagger on two corpora ---------------------------------------------------


@pytest.fixture
def two_corpora(tiny_corpora):
    """main (Chemical) and aux25 (Chemical, Disease): different tag sets, so different heads."""
    return [load_corpus(name, tiny_corpora.data_dir) for name in ("main", "aux25")]


def tiny_model(corpora, hidden=8, dropout=0.5, seed=0):
    vocab = build_vocabularies({c.name: c.train for c in corpora})
    torch.manual_seed(seed)
    config = ModelConfig(word_dim=10, char_dim=6, char_hidden=5, hidden=hidden, dropout=dropout)
    tags = {c: len(t) for c, t in vocab.tags.items()}
    model = MultiTaskTagger(config, len(vocab.words), len(vocab.chars), tags)
    return model, vocab, Collator(vocab, {c.name: c.train for c in corpora})


# corpora interleaved, and sentences of different lengths, so rows of one corpus are not contiguous
MIXED = [Item("aux25", 3), Item("main", 0), Item("main", 5), Item("aux25", 0), Item("aux25", 11), Item("main", 9)]


def alone(model, collate, item):
    """The oracle: the sentence in a batch of its own, scored by its own corpus's head by hand."""
    batch = collate([item])
    head = model.head(item.corpus)
    emissions = head.proj(model.encoder(batch))  # (1, T, K)
    nll = head.crf(emissions, batch.tags, batch.mask)[0]
    path = head.crf.decode(emissions, batch.mask)[0].tolist()
    return nll, path


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mixed_batch_loss_reduces_each_sentence_under_its_own_head(two_corpora, reduction):
    model, vocab, collate = tiny_model(two_corpora)
    assert vocab.tags["main"] != vocab.tags["aux25"]
    model.eval()
    each = torch.stack([alone(model, collate, item)[0] for item in MIXED])
    expected = each.sum() if reduction == "sum" else each.mean()
    torch.testing.assert_close(model.loss(collate(MIXED), reduction), expected)
    if reduction == "mean":
        torch.testing.assert_close(model.loss(collate(MIXED)), expected)  # the default
    with pytest.raises(ValueError, match="reduction"):
        model.loss(collate(MIXED), "token_mean")


def test_mixed_batch_decodes_as_each_sentence_alone(two_corpora):
    model, _, collate = tiny_model(two_corpora)
    model.eval()
    paths = model.decode(collate(MIXED))
    assert paths == [alone(model, collate, item)[1] for item in MIXED]
    assert [len(p) for p in paths] == [len(collate.tokens(item)) for item in MIXED]


def test_loss_gradient_reaches_only_the_heads_in_the_batch(two_corpora):
    model, _, collate = tiny_model(two_corpora)
    model.loss(collate([Item("main", 0), Item("main", 1)])).backward()
    assert model.head("main").proj.weight.grad is not None
    assert model.head("aux25").proj.weight.grad is None


def test_a_tiny_model_fits_the_tiny_corpus(tiny_corpus):
    """SGD on 24 sentences: training-set F1 reaches 1.0 within 40 epochs (it takes about 10)."""
    corpus = load_corpus(str(tiny_corpus))
    model, vocab, collate = tiny_model([corpus], hidden=16, dropout=0.1, seed=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    batches = ShuffledPass(items_of(corpus.name, len(corpus.train)), 8, np.random.default_rng(0))
    gold = [s.tags for s in corpus.train]
    f1s = []
    for _ in range(40):
        model.train()
        for items in batches.epoch():
            loss = model.loss(collate(items))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        pred = decode(model, collate, corpus.name, [s.tokens for s in corpus.train], torch.device("cpu"))
        f1s.append(score(gold, pred).f1)
        if f1s[-1] == 1.0:
            break
    assert f1s[-1] == 1.0, f"training-set F1 by epoch: {[round(f, 2) for f in f1s]}"


# The state dict of munchables 0.1 (before the encoder was built from parts), as that version printed
# it for this configuration: model.pt and checkpoint.pt files of format 1 hold these keys and shapes.
FORMAT_1_KEYS = [
    ("encoder.words.weight", (10, 3)), ("encoder.chars.embed.weight", (7, 2)),
    *[(f"encoder.chars.lstm.{d}_lstm.{w}_l0", shape) for d in ("forward", "backward")
      for w, shape in (("weight_ih", (8, 2)), ("weight_hh", (8, 2)), ("bias_ih", (8,)), ("bias_hh", (8,)))],
    *[(f"encoder.lstm.{d}_lstm.{w}_l0", shape) for d in ("forward", "backward")
      for w, shape in (("weight_ih", (16, 7)), ("weight_hh", (16, 4)), ("bias_ih", (16,)), ("bias_hh", (16,)))],
    *[(f"heads.{key}.{name}", shape) for key, k in (("main", 5), ("a%2Eb", 3))
      for name, shape in (("proj.weight", (k, 8)), ("proj.bias", (k,)), ("crf.transitions", (k, k)),
                          ("crf.start", (k,)), ("crf.end", (k,)))],
]


@pytest.mark.parametrize("lstm", [True, False])
def test_the_encoder_built_from_parts_keeps_the_saved_keys_of_format_1(lstm):
    config = ModelConfig(hidden=4, word_dim=3, char_dim=2, char_hidden=2, lstm=lstm)
    model = MultiTaskTagger(config, 10, 7, {"main": 5, "a.b": 3})
    expected = [(k, s if lstm or not k.startswith("heads") or len(s) < 2 or "proj" not in k else (s[0], 7))
                for k, s in FORMAT_1_KEYS if lstm or not k.startswith("encoder.lstm")]
    assert sorted((k, tuple(v.shape)) for k, v in model.state_dict().items()) == sorted(expected)
    model.load_state_dict(dict(model.state_dict()))  # and a format-1 dict loads strictly


# --- bounded memory: what the character model sees per word (issue 22.2) ------------------------


def _char_batch(words):
    vocab = build_vocabularies({"c": [Sentence(tuple("acgt"), ("O",) * 4)]})
    return vocab, Collator(vocab, {}).collate_tokens([words], "c")


def test_a_ten_thousand_letter_word_costs_what_a_capped_word_costs():
    dna = "".join(np.random.default_rng(0).choice(list("acgt"), 10_000))
    words = [dna] + [f"w{i}" for i in range(3000)]
    vocab, batch = _char_batch(words)
    assert batch.type_chars.shape == (3001, MAX_WORD_CHARS)  # was (3001, 10000): 2 GB in the character BiLSTM
    half = MAX_WORD_CHARS // 2
    assert batch.type_chars[0].tolist() == [vocab.chars.get(c) for c in dna[:half] + dna[-half:]]


@pytest.mark.parametrize("word", ["a", "acetylsalicylic", "x" * MAX_WORD_CHARS])
def test_a_word_under_the_cap_is_read_whole(word):
    vocab, batch = _char_batch([word])
    assert batch.type_chars[0].tolist() == [vocab.chars.get(c) for c in word]


def test_chunked_character_states_equal_the_states_of_one_pass(monkeypatch):
    """The chunks (sorted by length, each padded to its own longest) against the old path: all words at once."""
    rng = np.random.default_rng(1)
    words = ["".join(rng.choice(list("acgt"), rng.integers(1, MAX_WORD_CHARS + 1))) for _ in range(300)]
    _, batch = _char_batch(words)
    torch.manual_seed(0)
    chars = CharFeatures(10, 5, 4).eval()
    whole = CharEncoder.forward(chars, batch.type_chars, batch.type_chars > 0)[batch.types]  # (1, T, 8)
    monkeypatch.setattr(model_module, "CHAR_CELLS", 1000)  # 300 x 64 cells: about twenty chunks
    chunked = chars(batch)
    assert torch.allclose(chunked, whole, atol=1e-6)


def test_the_character_cache_keeps_neither_long_words_nor_words_without_end():
    vocab, _ = _char_batch(["a"])
    collate = Collator(vocab, {})
    for i in range(batching.CHAR_CACHE_WORDS + 10):
        collate.chars(f"w{i}")
    collate.chars("acgt" * 250_000)
    assert len(collate._char_cache) <= batching.CHAR_CACHE_WORDS
    assert max(map(len, collate._char_cache)) <= MAX_WORD_CHARS
