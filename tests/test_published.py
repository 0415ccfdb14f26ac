"""Flair's published embeddings by name (`--charlm-forward pubmed-forward`, `--word-vectors pubmed`),
downloaded once from a local server laid out as Flair's (MUNCHABLES_FLAIR_URL), never the internet.

The files served are the tiny ones Flair itself wrote (tests/fixtures/flair, make_fixtures.py), so
what comes through the download is checked against what Flair computed from them.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from file_server import Server
from munchables import Tagger
from munchables.cli import main
from munchables.embeddings import published
from munchables.embeddings.charlm import CharLM
from munchables.embeddings.contextual import ContextualStringEmbeddings
from munchables.embeddings.word_vectors import load_vectors, lookup
from munchables.errors import UserError
from test_embeddings_helpers import make_corpus, tiny_train_args
from test_safe_loading import Payload

FIXTURES = Path(__file__).parent / "fixtures" / "flair"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
WORDS = "/token/pubmed_pmc_wiki_sg_1M.gensim"


@pytest.fixture
def flair(tmp_path, monkeypatch):
    """Flair's layout on a local server, and a fresh per-user cache."""
    server = Server()
    server.files = {
        "/flair/pubmed-forward.pt": (FIXTURES / "forward.pt").read_bytes(),
        "/flair/pubmed-backward.pt": (FIXTURES / "backward-legacy.pt").read_bytes(),
        WORDS: (FIXTURES / "words.kv").read_bytes(),
        WORDS + ".vectors.npy": (FIXTURES / "words.kv.vectors.npy").read_bytes(),
    }
    monkeypatch.setenv(published.ENV_BASE, server.url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # names, not paths: nothing called pubmed-forward here
    yield server
    server.close()


def gets(server, path):
    return [r for r in server.requests if r[0] == path]


def test_flairs_language_model_names_download_once_and_give_flairs_features(flair, tmp_path):
    fwd = CharLM.load(published.local("pubmed-forward", published.LM))
    bwd = CharLM.load(published.local("pubmed-backward", published.LM))
    assert Path(published.local("pubmed-forward", published.LM)).parent == tmp_path / "cache" / "munchables" / "flair"
    got = ContextualStringEmbeddings(fwd, bwd, with_whitespace=True).embed(EXPECTED["sentences"])
    for i, _ in enumerate(EXPECTED["sentences"]):  # what Flair's FlairEmbeddings computed from these files
        want = torch.cat([torch.tensor(EXPECTED[f"{name} with_whitespace=True"][i])
                          for name in ("forward.pt", "backward-legacy.pt")], dim=-1)
        torch.testing.assert_close(got[i], want, rtol=0, atol=1e-6)
    assert len(gets(flair, "/flair/pubmed-forward.pt")) == 1  # the second use read the cache
    flair.close()  # offline now: the cache still serves
    assert CharLM.load(published.local("PubMed-Forward", published.LM)).config.direction == "forward"


def test_flairs_word_embedding_name_downloads_the_file_and_the_array_beside_it(flair):
    expected = json.loads((FIXTURES / "expected_words.json").read_text())
    kv = load_vectors("pubmed")
    found = lookup(kv, ["<pad>", "<unk>", *expected["words"]], str.lower)
    for i, vector in enumerate(expected["vectors"], start=2):
        if any(vector):
            np.testing.assert_allclose(found[i], vector, rtol=0, atol=1e-7)
    assert len(gets(flair, WORDS)) == len(gets(flair, WORDS + ".vectors.npy")) == 1
    load_vectors("en-pubmed")  # Flair's other name for it: the same files, not fetched again
    assert len(gets(flair, WORDS)) == 1


def test_train_with_flairs_names_trains_saves_and_tags(flair, tmp_path):
    corpus = make_corpus(tmp_path / "corpus", sizes=(12, 4, 4))
    out = tmp_path / "run"
    assert main(tiny_train_args(corpus, out, "--charlm-forward", "pubmed-forward", "--charlm-backward",
                                "pubmed-backward", "--word-vectors", "pubmed", "--max-epochs", "1")) == 0
    tagger = Tagger.load(out)  # the language models' weights are in the tagger: no download needed to load it
    flair.close()
    assert Tagger.load(out).tag([["Mutations", "cause", "cancer"]]) == tagger.tag([["Mutations", "cause", "cancer"]])


def test_a_path_that_exists_wins_over_a_name(flair, tmp_path):
    (tmp_path / "pubmed").write_text("2 2\na 1 2\nb 3 4\n")  # a user's own file called pubmed
    assert load_vectors("pubmed").index_to_key == ["a", "b"]
    assert flair.requests == []


def test_a_broken_download_resumes_and_a_partial_file_is_never_read(flair, tmp_path):
    flair.cut["/flair/pubmed-forward.pt"] = 3  # every try of this run breaks half-way
    with pytest.raises(UserError, match="connection broke 3 times"):
        published.local("pubmed-forward", published.LM)
    cache = tmp_path / "cache" / "munchables" / "flair"
    assert not (cache / "pubmed-forward.pt").exists() and (cache / "pubmed-forward.pt.part").stat().st_size > 0
    path = published.local("pubmed-forward", published.LM)  # the next run asks for the rest only
    assert Path(path).read_bytes() == (FIXTURES / "forward.pt").read_bytes()
    assert gets(flair, "/flair/pubmed-forward.pt")[-1][1] is not None  # a Range request
    assert not (cache / "pubmed-forward.pt.part").exists()


def test_offline_is_one_line_naming_the_urls_to_fetch_by_hand(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(published.ENV_BASE, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    corpus = make_corpus(tmp_path / "corpus", sizes=(12, 4, 4))
    assert main(tiny_train_args(corpus, tmp_path / "run", "--word-vectors", "pubmed")) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot reach http://127.0.0.1:9/token/pubmed_pmc_wiki_sg_1M.gensim" in err
    assert "pubmed_pmc_wiki_sg_1M.gensim.vectors.npy by hand" in err and "\n" not in err and "Traceback" not in err


def test_a_name_flair_does_not_publish_is_a_missing_file_naming_the_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    corpus = make_corpus(tmp_path / "corpus", sizes=(12, 4, 4))
    assert main(tiny_train_args(corpus, tmp_path / "run", "--charlm-forward", "pubmed-fwd",
                                "--charlm-backward", "pubmed-backward")) == 2
    err = capsys.readouterr().err
    assert "--charlm-forward pubmed-fwd: file not found" in err and "pubmed-forward" in err


def test_a_downloaded_file_with_a_payload_is_refused_like_any_other(flair, tmp_path):
    import pickle

    marker = tmp_path / "marker"
    flair.files["/flair/pubmed-forward.pt"] = pickle.dumps({"state_dict": Payload(marker)}, protocol=4)
    with pytest.raises(UserError, match="refused"):
        CharLM.load(published.local("pubmed-forward", published.LM))
    assert not marker.exists()


def test_two_processes_asking_at_once_download_it_once(flair):
    flair.slow["/flair/pubmed-forward.pt"] = 0.5
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(published.local("pubmed-forward", published.LM)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and len(gets(flair, "/flair/pubmed-forward.pt")) == 1


def test_reproduce_takes_a_flair_name_and_keys_trials_by_the_files_bytes(flair, tmp_path):
    from munchables.embeddings.word_vectors import vectors_sha256
    from munchables.experiments.protocol import make_protocol

    data = tmp_path / "data"
    make_corpus(data / "main", sizes=(12, 4, 4))
    make_corpus(data / "aux", sizes=(12, 4, 4), seed=1)
    protocol = make_protocol(targets=["main"], data_dir=data, methods=["single-task"], word_vectors="pubmed")
    path = tmp_path / "cache" / "munchables" / "flair" / "pubmed_pmc_wiki_sg_1M.gensim"
    assert protocol.word_vectors == str(path.resolve()) and protocol.vectors_sha256 == vectors_sha256(path)
