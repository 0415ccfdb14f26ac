"""Flair's language-model files, read without running code, give exactly Flair's embeddings.

tests/fixtures/flair holds two tiny LMs that Flair 0.15 itself made and saved (forward.pt in
torch's zip format, backward-legacy.pt with two layers and a `nout` projection in the legacy
format of the published PubMed files) and what Flair's `FlairEmbeddings` computed from them
(expected.json); make_fixtures.py made all three. Where flair is importable the vectors are also
compared with a live FlairEmbeddings.
"""

import contextlib
import json
import sys
import types
from pathlib import Path

import pytest
import torch

from munchables import Tagger
from munchables.cli import main
from munchables.embeddings.charlm import CharLM, FlairDictionary
from munchables.embeddings.contextual import ContextualStringEmbeddings
from test_embeddings_helpers import make_corpus, tiny_train_args
from test_safe_loading import Payload, refuses

FIXTURES = Path(__file__).parent / "fixtures" / "flair"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
SENTENCES = EXPECTED["sentences"]


@pytest.fixture(scope="module")
def imported():
    return CharLM.load(FIXTURES / "forward.pt"), CharLM.load(FIXTURES / "backward-legacy.pt")


def test_flair_files_load_as_their_settings_say(imported):
    fwd, bwd = imported
    assert (fwd.config.direction, fwd.config.hidden, fwd.config.layers, fwd.config.nout, fwd.hidden) == ("forward", 8, 1, 0, 8)
    assert (bwd.config.direction, bwd.config.hidden, bwd.config.layers, bwd.config.nout, bwd.hidden) == ("backward", 7, 2, 6, 6)
    assert fwd.imported == bwd.imported == "flair"
    assert fwd.chars[0] == "<unk>" and "B" in fwd.index


@pytest.mark.parametrize("with_whitespace", [True, False])
def test_the_features_equal_flairs_recorded_ones(imported, with_whitespace):
    fwd, bwd = imported
    got = ContextualStringEmbeddings(fwd, bwd, with_whitespace=with_whitespace).embed(SENTENCES)
    for i, tokens in enumerate(SENTENCES):
        want = torch.cat([torch.tensor(EXPECTED[f"{name} with_whitespace={with_whitespace}"][i])
                          for name in ("forward.pt", "backward-legacy.pt")], dim=-1)
        assert got[i].shape == (len(tokens), 8 + 6)
        torch.testing.assert_close(got[i], want, rtol=0, atol=1e-6)


def test_the_two_settings_differ(imported):
    """The oracle above can fail: the states with and without whitespace are not the same."""
    fwd, bwd = imported
    a = ContextualStringEmbeddings(fwd, bwd, with_whitespace=True).embed(SENTENCES[:1])[0]
    b = ContextualStringEmbeddings(fwd, bwd, with_whitespace=False).embed(SENTENCES[:1])[0]
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("with_whitespace", [True, False])
def test_the_features_equal_a_live_flair(imported, with_whitespace):
    try:
        import flair  # noqa: F401
        from flair.data import Sentence
        from flair.embeddings import FlairEmbeddings
    except ImportError:
        pytest.skip("flair is not installed: compared with its recorded vectors only (see make_fixtures.py)")
    fwd, bwd = imported
    got = ContextualStringEmbeddings(fwd, bwd, with_whitespace=with_whitespace).embed(SENTENCES)
    for k, name in enumerate(("forward.pt", "backward-legacy.pt")):
        emb = FlairEmbeddings(str(FIXTURES / name), with_whitespace=with_whitespace)
        sentences = [Sentence(tokens) for tokens in SENTENCES]
        emb.embed(sentences)
        for i, s in enumerate(sentences):
            want = torch.stack([t.get_embedding().cpu() for t in s])
            part = got[i][:, :8] if k == 0 else got[i][:, 8:]
            torch.testing.assert_close(part, want, rtol=0, atol=1e-6)


def flair_state(path: Path) -> dict:
    """The fields of a Flair file, read by the restricted loader."""
    from munchables.embeddings.charlm import read_state

    return read_state(path)


class Dictionary:
    """Pickled under flair.data.Dictionary's name (see save_as_flair), maybe with a payload inside."""


Dictionary.__module__, Dictionary.__qualname__ = "flair.data", "Dictionary"


@contextlib.contextmanager
def fake_flair():
    """flair.data.Dictionary importable as the class above, while in the block (flair is not needed)."""
    fake = types.ModuleType("flair.data")
    fake.Dictionary = Dictionary
    saved = {name: sys.modules.get(name) for name in ("flair", "flair.data")}
    sys.modules.update({"flair": types.ModuleType("flair"), "flair.data": fake})
    try:
        yield
    finally:
        for name, module in saved.items():
            sys.modules.pop(name) if module is None else sys.modules.__setitem__(name, module)


def save_as_flair(state: dict, path: Path, legacy: bool = False, payload: Payload | None = None) -> Path:
    """`state` saved as Flair saves it: its dictionary pickled as a flair.data.Dictionary."""
    d = Dictionary()
    d.__dict__.update(vars(state["dictionary"]))
    if payload is not None:
        d.payload = payload
    with fake_flair():
        torch.save({**state, "dictionary": d}, path, pickle_protocol=4, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("where", ["field", "dictionary"])
def test_a_flair_file_with_a_payload_is_refused_and_runs_nothing(tmp_path, where, legacy):
    import pickle

    state = flair_state(FIXTURES / "forward.pt")
    marker = tmp_path / "marker"
    if where == "field":
        state["payload"] = Payload(marker)
    path = save_as_flair(state, tmp_path / "evil.pt", legacy, Payload(marker) if where == "dictionary" else None)
    # The oracle: unpickled without restriction, the file creates the marker.
    with fake_flair():
        torch.load(path, weights_only=False, pickle_module=pickle)
    assert marker.exists()
    marker.unlink()
    refuses(lambda: CharLM.load(path), marker, str(path), "refused", "io.open")


def test_a_file_of_another_kind_is_named(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(Exception) as info:
        CharLM.load(path)
    assert "not a character language model written by `munch charlm` or Flair" in str(info.value)


def test_a_damaged_flair_file_is_one_line(tmp_path):
    state = flair_state(FIXTURES / "forward.pt")
    state["state_dict"] = {k: v for k, v in state["state_dict"].items() if not k.startswith("rnn.weight_hh")}
    save_as_flair(state, tmp_path / "damaged.pt")
    from munchables.errors import UserError

    with pytest.raises(UserError, match="a damaged Flair .*do not fit") as info:
        CharLM.load(tmp_path / "damaged.pt")
    assert "\n" not in str(info.value)


def test_the_stand_in_dictionary_is_what_the_loader_gives_and_a_copy_loads_alike(imported, tmp_path):
    state = flair_state(FIXTURES / "forward.pt")
    assert isinstance(state["dictionary"], FlairDictionary)
    copy = CharLM.load(save_as_flair(state, tmp_path / "copy.pt", legacy=True))  # the helper writes real Flair files
    assert copy.chars == imported[0].chars


def test_a_tagger_trained_on_flair_lms_uses_flairs_setting_and_keeps_it(tmp_path, caplog):
    corpus = make_corpus(tmp_path / "corpus", sizes=(12, 4, 4))
    out = tmp_path / "run"
    args = tiny_train_args(corpus, out, "--charlm-forward", str(FIXTURES / "forward.pt"),
                           "--charlm-backward", str(FIXTURES / "backward-legacy.pt"))
    args[args.index("--max-epochs") + 1] = "1"
    with caplog.at_level("INFO", logger="munchables"):
        assert main(args[1:]) == 0  # without -q: the log says which states are used
    assert "Flair's states with whitespace" in caplog.text
    cse = Tagger.load(out).model.encoder.features[0]
    assert cse.with_whitespace and cse.out_dim == 8 + 6
    want = torch.cat([torch.tensor(EXPECTED[f"{n} with_whitespace=True"][0]) for n in ("forward.pt", "backward-legacy.pt")], -1)
    torch.testing.assert_close(cse.embed(SENTENCES[:1])[0], want, rtol=0, atol=1e-6)


def test_a_tagger_saved_before_the_setting_computes_without_whitespace(imported, tmp_path):
    fwd, bwd = imported
    spec = ContextualStringEmbeddings(fwd, bwd, with_whitespace=True).spec(tmp_path)
    del spec["with_whitespace"]  # as taggers saved before it was recorded
    assert ContextualStringEmbeddings.from_spec(spec, tmp_path).with_whitespace is False


def test_a_longer_delimiter_is_read_first_as_flair_reads_it(imported):
    """Flair's get_representation gives a backward LM `delimiter + reversed(text) + " "`."""
    from dataclasses import replace

    from munchables.embeddings.contextual import lm_string

    _, bwd = imported
    lm = CharLM(replace(bwd.config, delimiter="<d>"), bwd.chars)
    assert lm_string(lm, ["ab", "c"])[::-1] == "<d>" + "c ba" + " "


def test_a_flair_file_saved_from_a_gpu_loads_on_the_cpu_with_the_same_features(imported, tmp_path):
    """Flair's LanguageModel.save() keeps the tensors where they were: the published models were trained
    and saved on GPUs, so their storages say torch.cuda.FloatStorage at cuda:0. The fixture is made
    so, byte for byte the pickle a GPU save writes (only the storage's class and location differ)."""
    data = (FIXTURES / "backward-legacy.pt").read_bytes()
    cpu = (b"\x8c\x05torch\x94\x8c\x0cFloatStorage", b"\x8c\x03cpu")
    gpu = (b"\x8c\x0atorch.cuda\x94\x8c\x0cFloatStorage", b"\x8c\x06cuda:0")
    for old, new in zip(cpu, gpu):
        assert data.count(old) == 1
        data = data.replace(old, new)
    (tmp_path / "gpu.pt").write_bytes(data)
    bwd = CharLM.load(tmp_path / "gpu.pt")
    fwd, cpu_bwd = imported
    got = ContextualStringEmbeddings(fwd, bwd, with_whitespace=True).embed(SENTENCES)
    want = ContextualStringEmbeddings(fwd, cpu_bwd, with_whitespace=True).embed(SENTENCES)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
