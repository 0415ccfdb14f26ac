"""Tagging with several heads: scores against brute force, one encoder pass, overlaps, long sentences."""

import itertools
import math
import random

import pytest
import torch

from munchables.data.documents import Document, Passage, entity
from munchables.data.tokenize import tokenize
from munchables.errors import UserError
from munchables.tagging import heads as tagging
from munchables.tagging.heads import resolve


@pytest.fixture
def tagger(three_head_tagger):
    return three_head_tagger


TEXTS = ["Patients treated with aspirin reported heart failure .", "No fever was seen after ibuprofen.\r\nThen asthma.",
         "caffeine", "", "The morphine dose was 100 mg per day in 12 mice with lung cancer ."]


def test_every_head_alone_equals_its_part_of_all_heads(tagger):
    together = tagger.predict(TEXTS, heads="all")
    assert tagger.heads("all") == ["tiny", "chem", "dis"]
    assert sum(len(found) for found in together) > 5  # there is something to compare
    for head in tagger.corpora:
        alone = tagger.predict(TEXTS, heads=head)
        assert alone == [[e for e in found if e["head"] == head] for found in together]
    for text, found in zip(TEXTS, together):
        assert all(text[e["start"]:e["end"]] == e["text"] and 0 < e["score"] <= 1 for e in found)


def test_the_encoder_runs_once_per_batch_for_all_heads(tagger):
    calls = []
    tagger.model.encoder.register_forward_hook(lambda *args: calls.append(1))
    tagger.predict(TEXTS, heads="target")
    one = len(calls)
    tagger.predict(TEXTS, heads="all")
    assert one == 1 and len(calls) == 2 * one


def test_scores_are_span_marginals_by_brute_force(tagger):
    """Each score: the probability mass of every tag path that holds exactly that entity, all paths enumerated."""
    text = "aspirin caused heart failure"
    tokens = [t for t, _, _ in tokenize(text)[0]]
    batch = tagger.collate.collate_tokens([tokens], "tiny")
    found = tagger.predict(text, heads="all")
    assert found
    for head in tagger.corpora:
        h = tagger.model.encoder(batch)
        emissions = tagger.model.head(head).proj(h).double()[0]  # (T, K)
        crf = tagger.model.head(head).crf.double()
        names = tagger.vocab.tags[head]
        total, mass = [], {}
        for path in itertools.product(range(len(names)), repeat=len(tokens)):
            score = (crf.start[path[0]] + crf.end[path[-1]] + sum(emissions[i, k] for i, k in enumerate(path))
                     + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))).item()
            total.append(score)
            for etype, s, e in tagging.iob2_entities([names[k] for k in path]):
                mass.setdefault((etype, s, e), []).append(score)
        log_z = torch.logsumexp(torch.tensor(total), 0)
        for ent in (e for e in found if e["head"] == head):
            s = next(i for i, (_, a, _) in enumerate(tokenize(text)[0]) if a == ent["start"])
            e = next(i for i, (_, _, b) in enumerate(tokenize(text)[0]) if b == ent["end"]) + 1
            expected = math.exp(torch.logsumexp(torch.tensor(mass[(ent["type"], s, e)]), 0) - log_z)
            assert ent["score"] == pytest.approx(expected, abs=1e-4)
        crf.float()


def test_batching_across_documents_changes_nothing(tagger, monkeypatch):
    alone = [tagger.predict(text, heads="all") for text in TEXTS]
    monkeypatch.setattr(tagging, "GROUP_SENTENCES", 1)
    assert tagger.predict(TEXTS, heads="all", batch_size=2) == alone
    docs = [Document(str(i), [Passage(t, 0)]) for i, t in enumerate(TEXTS)]
    assert [t.document.id for t in tagger.stream(iter(docs))] == [d.id for d in docs]


def test_passage_offsets_are_document_offsets(tagger):
    title, abstract = "Aspirin and heart failure", "We gave caffeine to 12 mice with asthma ."
    doc = Document("7", [Passage(title, 0), Passage(abstract, len(title) + 1)])
    joined = title + " " + abstract
    found = tagger.predict(doc, heads="all")
    assert found and all(joined[e["start"]:e["end"]] == e["text"] for e in found)
    assert {(e["text"], e["head"]) for e in found} == {
        (e["text"], e["head"]) for e in tagger.predict(title, heads="all") + tagger.predict(abstract, heads="all")}


def random_entities(rng, n):
    heads = ["a", "b", "c"]
    out = []
    for _ in range(n):
        start = rng.randrange(40)
        out.append(entity("x", "T", start, start + rng.randrange(1, 8), rng.choice(heads), rng.choice([0.2, 0.5, 0.9])))
    return out, heads


@pytest.mark.parametrize("policy, key", [
    ("score", lambda e, rank: (-e["score"], rank[e["head"]])),
    ("priority", lambda e, rank: (rank[e["head"]], -e["score"])),
])
def test_overlap_policies_against_their_definition(policy, key):
    """Kept spans never overlap; every dropped span overlaps a kept one that wins under the policy; counts add up."""
    rng = random.Random(0)
    overlaps = lambda a, b: a["start"] < b["end"] and b["start"] < a["end"]  # noqa: E731
    for _ in range(50):
        found, heads = random_entities(rng, rng.randrange(12))
        rank = {h: i for i, h in enumerate(heads)}
        kept, dropped = resolve(found, policy, heads)
        assert dropped == len(found) - len(kept)
        assert all(not overlaps(a, b) for a, b in itertools.combinations(kept, 2))
        for e in found:
            if not any(e is k for k in kept):
                assert any(overlaps(e, k) and key(k, rank) <= key(e, rank) for k in kept)
        all_kept, none = resolve(found, "all", heads)
        assert none == 0 and sorted(map(id, all_kept)) == sorted(map(id, found))


def test_unknown_heads_and_policies_are_user_errors(tagger):
    with pytest.raises(UserError, match="no head for 'nosuch'"):
        tagger.predict("aspirin", heads="chem,nosuch")
    with pytest.raises(UserError, match="--overlap"):
        tagger.predict("aspirin", overlap="first")


def test_an_overlong_sentence_is_tagged_in_pieces_with_exact_offsets(tagger, monkeypatch):
    """Issue 9.10: a line without sentence punctuation is cut at MAX_TOKENS tokens; offsets stay exact."""
    monkeypatch.setattr(tagging, "MAX_TOKENS", 7)
    words = ("aspirin caused heart failure and fever in mice given caffeine or morphine " * 4).split()
    text = "  ".join(words)
    assert len(tokenize(text)) == 1 and len(tokenize(text)[0]) == len(words)
    tagged = next(iter(tagger.stream([text], heads="all")))
    assert tagged.sentences == math.ceil(len(words) / 7)
    assert tagged.entities and all(text[e["start"]:e["end"]] == e["text"] for e in tagged.entities)
    # the pieces are tagged as sentences of their own
    pieces = ["  ".join(words[i:i + 7]) for i in range(0, len(words), 7)]
    expected = {(e["text"], e["head"], e["type"]) for piece in pieces for e in tagger.predict(piece, heads="all")}
    assert {(e["text"], e["head"], e["type"]) for e in tagged.entities} == expected
    # Tagger.tag cuts overlong token lists too, and joins their tags
    assert tagger.tag([words]) == [[t for i in range(0, len(words), 7) for t in tagger.tag([words[i:i + 7]])[0]]]


def test_batches_hold_every_sentence_once_within_both_caps():
    rng = random.Random(3)
    lists = [["w"] * rng.choice([0, 1, 5, 60, 200, 512]) for _ in range(300)]
    got = list(tagging.batches(lists, batch_size=16, max_cells=2048))
    flat = [i for b in got for i in b]
    assert sorted(flat) == [i for i, x in enumerate(lists) if x]
    assert all(len(b) <= 16 and len(b) * max(len(lists[i]) for i in b) <= 2048 for b in got)
    assert max(len(b) for b in got) == 16  # short sentences still fill a batch
