"""Loading a file someone else made runs no code: every loader, given a crafted pickle whose
unpickling would create a marker file, refuses it in one line and the marker never appears.
Also the model's format field, and old files that still load."""

import pickle
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from munchables.cli import main
from munchables.data.corpus import load_corpus
from munchables.data.vocab import build_vocabularies
from munchables.embeddings.charlm import CharLM, CharLMConfig, read_state
from munchables.embeddings.word_vectors import load_vectors
from munchables.errors import UserError
from munchables.model import ModelConfig, MultiTaskTagger, _corpus, _key
from munchables.tagging.tagger import Tagger
from munchables.util.serialization import load_torch


class Payload:
    """Unpickling calls open(marker, "w"): the file appears if and only if code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_torch_file(path: Path, marker: Path, **fields) -> Path:
    """A torch file that looks like the real thing (the fields given) with a payload inside."""
    torch.save({**fields, "payload": Payload(marker)}, path)
    return path


@pytest.fixture
def tagger(tiny_corpus):
    corpus = load_corpus(str(tiny_corpus))
    vocab = build_vocabularies({corpus.name: corpus.train})
    torch.manual_seed(0)
    config = ModelConfig(word_dim=6, char_dim=4, char_hidden=3, hidden=5)
    model = MultiTaskTagger(config, len(vocab.words), len(vocab.chars), {c: len(t) for c, t in vocab.tags.items()})
    return Tagger(model, vocab, corpus.name, torch.device("cpu"))


def refuses(load, marker: Path, *fragments: str):
    with pytest.raises(UserError) as info:
        load()
    assert not marker.exists(), "the payload ran"
    for fragment in fragments:
        assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    return info.value


def test_payload_would_run_under_plain_pickle(tmp_path):
    """The oracle: the crafted file does create the marker when unpickled without restriction."""
    path = evil_torch_file(tmp_path / "x.pt", tmp_path / "marker")
    torch.load(path, weights_only=False)
    assert (tmp_path / "marker").exists()


def test_model_file_with_a_payload_runs_nothing(tmp_path, tagger):
    tagger.save(tmp_path)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    evil_torch_file(tmp_path / "model.pt", tmp_path / "marker", **state)
    refuses(lambda: Tagger.load(tmp_path), tmp_path / "marker", "refused", "io.open", str(tmp_path / "model.pt"))


def test_predict_with_a_payload_model_is_one_line(tmp_path, tagger, capsys):
    tagger.save(tmp_path)
    evil_torch_file(tmp_path / "model.pt", tmp_path / "marker", **torch.load(tmp_path / "model.pt"))
    assert main(["predict", "--model", str(tmp_path), "--input", str(tmp_path / "model.pt")]) == 2
    assert not (tmp_path / "marker").exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_checkpoint_with_a_payload_runs_nothing(tmp_path, tiny_corpus, capsys):
    out = tmp_path / "run"
    out.mkdir()
    evil_torch_file(out / "checkpoint.pt", tmp_path / "marker", position=(1, 1), history=[])
    rc = main(["train", "--target", str(tiny_corpus), "--out", str(out), "--resume", "--hidden", "4",
               "--word-dim", "4", "--max-epochs", "1", "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "refused" in err[-1] and "checkpoint.pt" in err[-1]
    assert not (tmp_path / "marker").exists()


def test_character_lm_with_a_payload_runs_nothing(tmp_path):
    lm = CharLM(CharLMConfig(hidden=4, char_dim=3), ["?", "a", "b"])
    path = evil_torch_file(tmp_path / "lm.pt", tmp_path / "marker", format="munchables-charlm-1", spec=lm.spec(),
                           model=lm.state_dict())
    refuses(lambda: CharLM.load(path), tmp_path / "marker", "refused")
    refuses(lambda: read_state(path), tmp_path / "marker", "refused")


def test_charlm_resume_and_contextual_embeddings_with_a_payload_run_nothing(tmp_path, tiny_corpus, capsys):
    text = tmp_path / "t.txt"
    text.write_text("a b c\nd e f\ng h\n", encoding="utf-8")
    evil_torch_file(tmp_path / "lm.pt", tmp_path / "marker", format="munchables-charlm-1")
    rc = main(["charlm", "--text", str(text), "--direction", "forward", "--out", str(tmp_path / "lm.pt"),
               "--resume", "--hidden", "4", "--threads", "1", "--device", "cpu"])
    assert rc == 2 and "refused" in capsys.readouterr().err
    rc = main(["train", "--target", str(tiny_corpus), "--out", str(tmp_path / "run"), "--hidden", "4",
               "--charlm-forward", str(tmp_path / "lm.pt"), "--charlm-backward", str(tmp_path / "lm.pt"),
               "--max-epochs", "1", "--device", "cpu"])
    assert rc == 2 and "refused" in capsys.readouterr().err
    assert not (tmp_path / "marker").exists()


def test_plain_pickle_is_not_a_torch_file(tmp_path):
    with open(tmp_path / "x.pt", "wb") as f:
        pickle.dump(Payload(tmp_path / "marker"), f)
    refuses(lambda: load_torch(tmp_path / "x.pt", "model"), tmp_path / "marker", "cannot read the model")


@pytest.mark.parametrize("suffix", [".kv", ".model"])
def test_gensim_pickle_needs_trust(tmp_path, suffix):
    path = tmp_path / f"vectors{suffix}"
    with open(path, "wb") as f:
        pickle.dump(Payload(tmp_path / "marker"), f)
    refuses(lambda: load_vectors(path), tmp_path / "marker", "--trust", "pickle")


def test_gensim_kv_loads_with_trust(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["aspirin", "fever"], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    kv.save(str(tmp_path / "v.kv"))
    loaded = load_vectors(tmp_path / "v.kv", trust=True)
    assert loaded["fever"].tolist() == [4.0, 5.0, 6.0]


def test_train_names_trust_for_a_kv_file(tmp_path, tiny_corpus, capsys):
    (tmp_path / "v.kv").write_bytes(pickle.dumps(Payload(tmp_path / "marker")))
    rc = main(["train", "--target", str(tiny_corpus), "--out", str(tmp_path / "run"), "--hidden", "4",
               "--word-vectors", str(tmp_path / "v.kv"), "--max-epochs", "1", "--device", "cpu"])
    assert rc == 2 and "--trust" in capsys.readouterr().err
    assert not (tmp_path / "marker").exists()


# --- formats -----------------------------------------------------------------------------------


def test_newer_model_format_names_the_version_needed(tmp_path, tagger):
    tagger.save(tmp_path)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    torch.save(state | {"format": 2, "munchables_version": "9.1.0"}, tmp_path / "model.pt")
    with pytest.raises(UserError, match=r"munchables 9\.1\.0 in munchables model format 2.*upgrade"):
        Tagger.load(tmp_path)


@pytest.mark.parametrize("field", ["config", "vocab", "target", "state_dict"])
def test_model_missing_a_field_is_named(tmp_path, tagger, field):
    tagger.save(tmp_path)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    del state[field]
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(UserError, match=f"no '{field}' field"):
        Tagger.load(tmp_path)


def test_model_round_trip_tags_the_same(tmp_path, tagger):
    sentences = [["aspirin", "reduced", "fever", "."], ["No", "headache"]]
    tagger.save(tmp_path)
    assert Tagger.load(tmp_path).tag(sentences) == tagger.tag(sentences)


# --- heads: one per corpus, whatever the names --------------------------------------------------


NAMES = ["bc5.chem", "bc5_chem", "bc5%2Echem", "bc5%chem", "train", "%train", "keys", "a.b.c", "a_b_c", "x",
         "training", "_modules"]  # instance attributes of a ModuleDict, not only its class's


def test_head_keys_are_injective_and_valid():
    keys = [_key(n) for n in NAMES]
    assert len(set(keys)) == len(NAMES)
    model = MultiTaskTagger(ModelConfig(word_dim=4, char_dim=2, char_hidden=2, hidden=3), 10, 10,
                            {n: 3 + i for i, n in enumerate(NAMES)})
    assert {n: model.head(n).crf.transitions.shape[0] for n in NAMES} == {n: 3 + i for i, n in enumerate(NAMES)}


def test_old_model_with_dotted_corpus_names_still_loads(tmp_path, tiny_corpus):
    corpus = load_corpus(str(tiny_corpus))
    vocab = build_vocabularies({"bc5.chem": corpus.train})
    model = MultiTaskTagger(ModelConfig(word_dim=4, char_dim=2, char_hidden=2, hidden=3), len(vocab.words),
                            len(vocab.chars), {"bc5.chem": len(vocab.tags["bc5.chem"])})
    tagger = Tagger(model, vocab, "bc5.chem", torch.device("cpu"))
    tagger.save(tmp_path)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    state["state_dict"] = {k.replace("heads.bc5%2Echem.", "heads.bc5_chem."): v for k, v in state["state_dict"].items()}
    assert any(k.startswith("heads.bc5_chem.") for k in state["state_dict"])  # as munchables 0.1.0 saved it
    torch.save(state, tmp_path / "model.pt")
    sentences = [["aspirin", "reduced", "fever"]]
    assert Tagger.load(tmp_path).tag(sentences) == tagger.tag(sentences)


@pytest.mark.parametrize("names", [("corp.a", "corp_a"), ("corp_a", "corp.a"), ("a.b.c", "a_b_c", "a.b_c"),
                                   ("", "%"), ("train", "%train")])
def test_names_equal_in_the_old_scheme_save_and_load_with_their_own_heads(tmp_path, tiny_corpus, names):
    """Issue 22.4: `corp.a` and `corp_a` trained, saved, then failed to load ("weights do not fit")."""
    corpus = load_corpus(str(tiny_corpus))
    vocab = build_vocabularies({n: corpus.train for n in names})
    torch.manual_seed(0)
    model = MultiTaskTagger(ModelConfig(word_dim=4, char_dim=2, char_hidden=2, hidden=3), len(vocab.words),
                            len(vocab.chars), {n: len(vocab.tags[n]) for n in names})
    with torch.no_grad():
        for i, n in enumerate(names):  # every head different, so a head loaded onto another's key shows
            model.head(n).crf.transitions.fill_(i + 1.0)
    Tagger(model, vocab, names[0], torch.device("cpu")).save(tmp_path)
    loaded = Tagger.load(tmp_path).model
    for n in names:
        assert torch.equal(loaded.head(n).crf.transitions, model.head(n).crf.transitions), n


@given(st.text(max_size=12))
def test_head_keys_map_back_to_their_names(name):
    key = _key(name)
    assert "." not in key and key and key not in dir(torch.nn.ModuleDict())
    assert _corpus(key) == name


def test_a_corpus_name_that_heads_cannot_name_is_refused_before_training(tmp_path, tiny_corpus, tiny_train_args, capsys):
    odd = tiny_corpus.rename(tmp_path / "chem,dis")
    assert main([*tiny_train_args(odd, 1), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "'chem,dis'" in err and "rename the directory" in err and "\n" not in err
    assert not (tmp_path / "run" / "model.pt").exists()
