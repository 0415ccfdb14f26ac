"""`munch corpora fetch` against a local HTTP server on 127.0.0.1 started here, never the internet.

The server serves toy source files laid out like raw.githubusercontent.com (owner/repo/commit/path),
written by the tests in the form of the real sources (`devel` files, `-DOCSTART-` lines, a trailing
blank line, BioBERT's bare B/I tags); the corpora they must become are written independently from
the same sentences. Toy corpora enter sources.SOURCES through monkeypatch. The real table is checked
against ../shared/data and ../shared/data-extra where those exist.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from file_server import Server
from munchables.cli import main
from munchables.data import fetch as F
from munchables.data import sources as S

REPO, COMMIT = "toy-owner/toy-repo", "0123456789abcdef0123456789abcdef01234567"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


# ----------------------------------------------------------------------------- the local server


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


# ----------------------------------------------------------------------------- toy corpora


def sentences(n: int, seed: int, tags=("B-Chem", "I-Chem")) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [(f"w{rng.randrange(50)}", "O") for _ in range(rng.randrange(2, 8))]
        at = rng.randrange(len(words))
        words[at:at] = [(f"chem{rng.randrange(9)}", tags[0]), ("acid", tags[1])]
        out.append(words)
    return out


def block(sentence) -> str:
    return "".join(f"{token}\t{tag}\n" for token, tag in sentence)


def crichton_style(sents) -> bytes:
    """Documents of 5 sentences, each after a -DOCSTART- line, a blank line after every sentence."""
    text = ""
    for i, sentence in enumerate(sents):
        if i % 5 == 0:
            text += "-DOCSTART-\tO\n\n"
        text += block(sentence) + "\n"
    return text.encode()


def published(sents) -> bytes:
    """The converted form (../shared/data/README.md): one blank line between sentences, none at the end."""
    return "\n".join(block(s) for s in sents).encode()


class Toy:
    """A toy corpus: its source files on the server, the corpus they become, its CorpusSource."""

    def __init__(self, name, bare=False, n=60):
        self.name = name
        self.sources, self.expected = {}, {}
        for i, (split, stem) in enumerate((("train", "train"), ("dev", "devel"), ("test", "test"))):
            sents = sentences(n if split == "train" else n // 3, seed=100 * len(name) + i)
            if bare:  # BioBERT's species files: bare tags, no DOCSTART, a trailing blank line
                raw = "\n".join(block([(t, tag.split("-")[0]) for t, tag in s]) for s in sents) + "\n"
                self.sources[split] = (f"data/ner/{name}/{stem}.tsv", raw.encode())
            else:
                self.sources[split] = (f"data/{name.upper()}-IOB/{stem}.tsv", crichton_style(sents))
            self.expected[split] = published([[(t, tag.replace("Chem", "Species") if bare else tag)
                                               for t, tag in s] for s in sents])
        self.source = S.CorpusSource(
            name=name, group="paper", entity_types=("Species",) if bare else ("Chem",),
            files=tuple(S.SourceFile(split, REPO, COMMIT, path, blob(data), hashlib.sha256(self.expected[split]).hexdigest())
                        for split, (path, data) in self.sources.items()),
            licence=f"toy terms of {name}", bare_type="Species" if bare else None)

    def url_path(self, split) -> str:
        return f"/{REPO}/{COMMIT}/{self.sources[split][0]}"

    def serve(self, server: Server):
        for split, (_, data) in self.sources.items():
            server.files[self.url_path(split)] = data

    def write_mirror(self, root: Path):
        for path, data in self.sources.values():
            target = root / REPO / COMMIT / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def check(self, data_dir: Path):
        assert sorted(p.name for p in (data_dir / self.name).iterdir()) == ["dev.tsv", "test.tsv", "train.tsv"]
        for split, data in self.expected.items():
            assert (data_dir / self.name / f"{split}.tsv").read_bytes() == data, split


def blob(data: bytes) -> str:
    """The git blob id, written out here from git's object format (git hash-object)."""
    return hashlib.sha1(f"blob {len(data)}".encode() + b"\x00" + data).hexdigest()


@pytest.fixture
def toys(monkeypatch):
    made = {name: Toy(name, bare=(name == "toyspecies")) for name in ("toychem", "toyspecies")}
    for name, toy in made.items():
        monkeypatch.setitem(S.SOURCES, name, toy.source)
    return made


def fetch(data_dir, *names, mirror=None, extra=()):
    args = ["corpora", "fetch", *names, "--data-dir", str(data_dir), *extra]
    return main(args + (["--mirror", mirror] if mirror else []))


def nothing_but(data_dir: Path, names) -> list[str]:
    """The files under data_dir outside the corpora `names` (staging must be gone)."""
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*")
                  if p.is_file() and p.relative_to(data_dir).parts[0] not in names)


# ----------------------------------------------------------------------------- tests


def test_good_fetch_converts_and_prints_licences(tmp_path, server, toys, caplog):
    for toy in toys.values():
        toy.serve(server)
    with caplog.at_level("INFO", logger="munchables"):
        assert fetch(tmp_path / "data", "toychem", "toyspecies", mirror=server.url) == 0
    for toy in toys.values():
        toy.check(tmp_path / "data")
        assert f"toy terms of {toy.name}" in caplog.text
    assert nothing_but(tmp_path / "data", toys) == []  # no staging left behind
    assert len(server.requests) == 6 and all(rng is None for _, rng in server.requests)


def test_rerun_downloads_nothing(tmp_path, server, toys):
    toys["toychem"].serve(server)
    assert fetch(tmp_path, "toychem", mirror=server.url) == 0
    server.requests.clear()
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "toychem").iterdir()}
    assert fetch(tmp_path, "toychem", mirror=server.url) == 0
    assert server.requests == []
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "toychem").iterdir()} == before


def test_tampered_file_is_refused_and_nothing_written(tmp_path, server, toys, capsys):
    toy = toys["toychem"]
    toy.serve(server)
    good = server.files[toy.url_path("dev")]
    bad = good.replace(b"B-Chem", b"I-Chem", 1)
    server.files[toy.url_path("dev")] = bad
    assert fetch(tmp_path, "toychem", mirror=server.url) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    for fragment in (server.url + toy.url_path("dev"), blob(good), blob(bad), "refused"):
        assert fragment in err
    assert not (tmp_path / "toychem").exists()
    assert all(p.read_bytes() != bad for p in tmp_path.rglob("*") if p.is_file())  # no unverified byte kept


def test_404_names_the_url_and_the_mirror_alternative(tmp_path, server, toys, capsys):
    toy = toys["toychem"]
    toy.serve(server)
    del server.files[toy.url_path("test")]
    assert fetch(tmp_path, "toychem", mirror=server.url) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "HTTP 404" in err and server.url + toy.url_path("test") in err and "--mirror" in err
    assert not (tmp_path / "toychem").exists()


def test_cut_connection_resumes_with_a_range_request(tmp_path, server, toys):
    toy = toys["toychem"]
    toy.serve(server)
    path = toy.url_path("train")
    server.cut[path] = 1  # the first answer breaks half-way; the same run resumes
    assert fetch(tmp_path, "toychem", mirror=server.url) == 0
    toy.check(tmp_path)
    half = len(server.files[path]) // 2
    assert [rng for p, rng in server.requests if p == path] == [None, f"bytes={half}-"]


def test_two_fetches_of_one_corpus_at_once_download_it_once(tmp_path, server, toys, caplog):
    """Two commands fetching one corpus into one directory (two users, two first uses): the second
    waits for the first's lock and finds the corpus present; before, both wrote the same staging
    files and the second's rename failed with a traceback."""
    toy = toys["toychem"]
    toy.serve(server)
    server.slow[toy.url_path("train")] = 1.0  # the first is mid-download when the second starts
    results, errors = [], []

    def one():
        try:
            results.append(F.fetch_corpus(toy.source, tmp_path / "data", server.url))
        except BaseException as e:  # noqa: BLE001 (reported by the assertion below)
            errors.append(e)

    with caplog.at_level("WARNING", logger="munchables"):
        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.3)
        for t in threads:
            t.join(timeout=60)
    assert errors == [] and sorted(results) == ["fetched", "present"]
    toy.check(tmp_path / "data")
    assert nothing_but(tmp_path / "data", ["toychem"]) == []
    assert sorted(p for p, _ in server.requests) == sorted(toy.url_path(s) for s in ("train", "dev", "test"))
    assert "another munch is fetching it" in caplog.text


def test_interrupted_run_resumes_in_the_next_run(tmp_path, server, toys, capsys):
    toy = toys["toychem"]
    toy.serve(server)
    path = toy.url_path("train")
    server.cut[path] = F.ATTEMPTS  # every answer of this run breaks half-way: it gives up
    assert fetch(tmp_path, "toychem", mirror=server.url) == 2
    assert "run the command again to resume" in capsys.readouterr().err
    assert not (tmp_path / "toychem").exists()  # no half corpus for munch train to read
    size, received, ranges = len(server.files[path]), 0, []
    for _ in range(F.ATTEMPTS):  # each try resumes where the last stopped and gets half the rest
        ranges.append(f"bytes={received}-" if received else None)
        received += (size - received) // 2
    assert [rng for p, rng in server.requests if p == path] == ranges
    server.requests.clear()
    assert fetch(tmp_path, "toychem", mirror=server.url) == 0
    toy.check(tmp_path)
    assert [rng for p, rng in server.requests if p == path] == [f"bytes={received}-"]


def test_mirror_directory(tmp_path, toys, capsys):
    for toy in toys.values():
        toy.write_mirror(tmp_path / "mirror")
    assert fetch(tmp_path / "data", "toychem", "toyspecies", mirror=str(tmp_path / "mirror")) == 0
    for toy in toys.values():
        toy.check(tmp_path / "data")
    (tmp_path / "mirror" / REPO / COMMIT / toys["toychem"].sources["dev"][0]).unlink()
    shutil.rmtree(tmp_path / "data" / "toychem")
    assert fetch(tmp_path / "data", "toychem", mirror=str(tmp_path / "mirror")) == 2
    assert "not in the mirror directory" in capsys.readouterr().err
    (tmp_path / "mirror" / REPO / COMMIT / toys["toychem"].sources["dev"][0]).mkdir()  # a folder in its place
    assert fetch(tmp_path / "data", "toychem", mirror=str(tmp_path / "mirror")) == 2
    assert "cannot read it from the mirror directory" in capsys.readouterr().err


def test_present_corpora_are_verified_not_downloaded(tmp_path, server, toys, capsys):
    toy = toys["toychem"]
    toy.serve(server)
    (tmp_path / "toychem").mkdir()
    for split, data in toy.expected.items():  # put there by hand, as ../shared/data was
        (tmp_path / "toychem" / f"{split}.tsv").write_bytes(data)
    assert fetch(tmp_path, "toychem", mirror=server.url) == 0
    assert server.requests == []
    changed = toy.expected["test"] + b"\nextra\tO\n"
    (tmp_path / "toychem" / "test.tsv").write_bytes(changed)
    assert fetch(tmp_path, "toychem", mirror=server.url) == 2
    err = capsys.readouterr().err
    assert "test.tsv differs from the published toychem" in err and hashlib.sha256(changed).hexdigest() in err
    assert (tmp_path / "toychem" / "test.tsv").read_bytes() == changed  # left alone
    assert server.requests == []


def test_offline_is_one_line_and_quick(tmp_path, toys, capsys):
    with socket.socket() as s:  # a local port with nothing listening: refused at once
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    started = time.monotonic()
    assert fetch(tmp_path, "toychem", mirror=dead) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"cannot reach {dead}/{REPO}/{COMMIT}/" in err and "--mirror" in err


def test_print_urls_lists_every_file_and_fetches_nothing(tmp_path, capsys):
    assert main(["corpora", "fetch", "--print-urls", "all", "--mirror", "https://mirror.example/raw"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = [(f"https://mirror.example/raw/{f.repo}/{f.commit}/{f.path}", f.git_blob, f"{name}/{f.split}.tsv")
                for name in S.GROUPS["all"] for f in S.SOURCES[name].files]
    assert [tuple(line.split("\t")) for line in lines] == expected
    assert len(lines) == 24 and any("data/BC4CHEMD/devel.tsv" in line for line in lines)


def test_unknown_name_is_a_user_error(tmp_path, capsys):
    assert fetch(tmp_path, "nosuch") == 2
    assert "unknown corpus 'nosuch'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_read_only_data_directory(tmp_path, toys, capsys):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        assert fetch(tmp_path / "ro", "toychem", mirror=str(tmp_path)) == 2
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert "is read-only" in capsys.readouterr().err
    assert not any((tmp_path / "ro").iterdir())


def test_train_fetches_a_missing_named_corpus_unless_no_fetch(tmp_path, server, toys, monkeypatch, capsys, caplog):
    toy = toys["toychem"]
    toy.serve(server)
    monkeypatch.setenv(F.ENV_MIRROR, server.url)
    args = ["-q", "train", "--target", "toychem", "--data-dir", str(tmp_path / "data"), "--max-epochs", "1",
            "--hidden", "4", "--word-dim", "4", "--device", "cpu", "--out", str(tmp_path / "run")]
    assert main([*args, "--no-fetch"]) == 2
    assert "munch corpora fetch toychem" in capsys.readouterr().err and server.requests == []
    with caplog.at_level("INFO", logger="munchables"):
        assert main(args) == 0
    assert "corpus toychem is not in" in caplog.text and "--no-fetch" in caplog.text
    toy.check(tmp_path / "data")
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_git_blob_id_matches_git(tmp_path):
    data = b"token\tB-X\n\nother\tO\n"
    assert S.git_blob_id(data) == blob(data)
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    out = subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True).stdout
    assert S.git_blob_id(data) == out.decode().strip()


def test_the_table_covers_the_corpora():
    assert S.GROUPS["all"] == ["ncbi-disease", "bc5cdr-disease", "bc5cdr-chem", "chemdner", "bc2gm", "jnlpba",
                               "linnaeus", "s800"]
    assert len(S.GROUPS["extra"]) == 9
    for source in S.SOURCES.values():
        assert [f.split for f in source.files] == ["train", "dev", "test"]
        assert all(len(f.git_blob) == 40 and len(f.commit) == 40 for f in source.files)
    chemdner = {f.split: f.git_blob for f in S.SOURCES["chemdner"].files}  # as ../shared/data/README.md gives them
    assert chemdner == {"train": "f46f93b33d2152d83bbe6302557f48b809b53d2f",
                        "dev": "607eed70e400da4ce4fd6efea26910458dc71626",
                        "test": "ce2aeda424709c92e05b022f4f8429970e47444e"}
    assert "unclear" in S.SOURCES["chemdner"].licence.lower()


# ----------------------------------------------------------------------------- the real corpora


def shared_dir(source: S.CorpusSource) -> Path:
    return SHARED / ("data" if source.group == "paper" else "data-extra") / source.name


def shared_corpora() -> list[str]:
    return [name for name, source in S.SOURCES.items() if shared_dir(source).is_dir()]


@pytest.mark.skipif(not shared_corpora(), reason="needs ../shared/data")
@pytest.mark.parametrize("group", ["data", "data-extra"])
def test_stored_hashes_match_the_shared_corpora(group, tmp_path):
    """Every corpus of ../shared/data(-extra) is 'present and verified': its files have the stored sha256."""
    names = [n for n in shared_corpora() if shared_dir(S.SOURCES[n]).parent.name == group]
    done = F.fetch_corpora(names, SHARED / group, mirror=str(tmp_path / "no-mirror"))
    assert done == {name: "present" for name in names}


@pytest.mark.skipif(not shared_corpora(), reason="needs ../shared/data")
def test_conversion_of_reconstructed_sources_gives_the_shared_corpora():
    """Where the published source can be rebuilt from the converted file (no -DOCSTART- lines were
    dropped: all but jnlpba), the rebuilt bytes have the stored git blob id, so they are the
    source, and converting them gives the shared file back byte for byte."""
    checked = 0
    for name in shared_corpora():
        source = S.SOURCES[name]
        if name == "jnlpba":
            continue  # its -DOCSTART- lines are gone; the download itself is checked by blob id
        for file in source.files:
            converted = (shared_dir(source) / f"{file.split}.tsv").read_bytes()
            rebuilt = converted + b"\n"  # the source ends with a blank line
            if source.bare_type:
                rebuilt = rebuilt.replace(f"\tB-{source.bare_type}\n".encode(), b"\tB\n")
                rebuilt = rebuilt.replace(f"\tI-{source.bare_type}\n".encode(), b"\tI\n")
            assert S.git_blob_id(rebuilt) == file.git_blob, (name, file.split)
            assert F.convert(rebuilt, source.bare_type) == converted, (name, file.split)
            checked += 1
    assert checked >= 3


def test_one_failed_corpus_does_not_stop_the_others(tmp_path, server, toys, capsys, caplog):
    toys["toyspecies"].serve(server)  # toychem is not on the server: 404
    assert fetch(tmp_path, "toychem", "toyspecies", mirror=server.url) == 2
    assert "toychem: not fetched" in caplog.text and "HTTP 404" in caplog.text
    assert capsys.readouterr().err.strip().endswith("1 of 2 corpora not fetched (toychem; the reasons are above); "
                                                 f"the others are in {tmp_path}, verified")
    toys["toyspecies"].check(tmp_path)
    assert not (tmp_path / "toychem").exists()


def test_reproduce_fetches_named_targets_first(tmp_path, server, toys, monkeypatch, capsys):
    toys["toychem"].serve(server)
    monkeypatch.setenv(F.ENV_MIRROR, server.url)
    args = ["reproduce", "--targets", "toychem", "--data-dir", str(tmp_path / "data"),
            "--store", str(tmp_path / "r.sqlite"), "--runs-dir", str(tmp_path / "runs")]
    assert main([*args, "--no-fetch"]) == 2
    assert not (tmp_path / "data").exists() and server.requests == []
    capsys.readouterr()
    assert main(args) == 2  # fetched, then one corpus is too few for the protocol
    assert "at least two corpora; found ['toychem']" in capsys.readouterr().err
    toys["toychem"].check(tmp_path / "data")


# ----------------------------------------------------------------------------- bounded downloads (issue 22.2)


@pytest.mark.parametrize("claimed", [None, "900000000000"])
def test_a_mirror_that_streams_without_end_is_cut_at_the_limit(tmp_path, server, toys, capsys, monkeypatch, claimed):
    """It was read for 200 MB for a 0.3 MB file; now the download stops past MAX_SOURCE_BYTES (1 MB here)."""
    monkeypatch.setattr(F, "MAX_SOURCE_BYTES", 1_000_000)
    toy = toys["toychem"]
    toy.serve(server)
    server.endless[toy.url_path("train")] = claimed
    assert fetch(tmp_path, "toychem", mirror=server.url) == 2
    err = capsys.readouterr().err.strip()
    assert "more than any corpus source file (1,000,000 bytes at most)" in err and "\n" not in err
    assert server.sent.get(toy.url_path("train"), 0) < 8_000_000  # stopped reading (the socket buffers hold a little)
    assert not (tmp_path / "toychem").exists() and not list(tmp_path.rglob("*.part"))


@pytest.mark.parametrize("where", ["{blob}.part", "{blob}", "../toychem.lock"])
def test_a_stale_symlink_in_the_staging_area_is_removed_not_followed(tmp_path, server, toys, where, capsys):
    toy = toys["toychem"]
    toy.serve(server)
    staging = tmp_path / ".fetch" / "toychem"
    staging.mkdir(parents=True)
    link = staging / where.format(blob=toy.source.files[0].git_blob)
    link.symlink_to(tmp_path / "gone" / "elsewhere")  # dangling: its folder does not exist
    assert fetch(tmp_path, "toychem", mirror=server.url) == 0, capsys.readouterr().err
    toy.check(tmp_path)
    assert not (tmp_path / "gone").exists()


def test_a_stale_symlink_for_the_conversion_folder_is_removed(tmp_path, server, toys, capsys):
    toy = toys["toychem"]
    toy.serve(server)
    (tmp_path / ".fetch").mkdir()
    (tmp_path / ".fetch" / "toychem.tmp").symlink_to(tmp_path / "gone")
    assert fetch(tmp_path, "toychem", mirror=server.url) == 0, capsys.readouterr().err
    toy.check(tmp_path)
