"""`munch tag --jobs N` and `--out-dir DIR` (local workers, Ray tasks): the same bytes as one process,
in input order, resumable; a folder's manifest skips finished files and refuses what it did not write."""

import json

import pytest

from munchables.cli import main
from munchables.tagging import collection, ensemble
from munchables.tagging.parallel import MANIFEST


@pytest.fixture
def model_dir(three_head_tagger, tmp_path):
    return three_head_tagger.save(tmp_path / "model").parent


@pytest.fixture
def folder(tmp_path):
    """Three PubTator files (one gzip, one in a sub-folder), 40 abstracts, one id repeated."""
    import gzip

    root = tmp_path / "abstracts"
    (root / "sub").mkdir(parents=True)
    def abstracts(first, n):
        return "".join(f"{i}|t|Aspirin and fever {i}\n{i}|a|Patients given caffeine reported asthma {i} .\n\n"
                       for i in [*range(first, first + n - 1), first])
    (root / "a.pubtator").write_text(abstracts(100, 15))
    (root / "sub" / "b.pubtator").write_text(abstracts(200, 15))
    (root / "c.pubtator.gz").write_bytes(gzip.compress(abstracts(300, 10).encode()))
    return root


def run(*args):
    return main(["-q", "tag", *map(str, args)])


def test_jobs_give_the_bytes_of_one_process_in_input_order_and_resume(model_dir, folder, tmp_path, monkeypatch):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    args = ["--model", model_dir, "--input", folder, "--heads", "all", "--format", "jsonl"]
    assert run(*args, "--out", one) == 0
    monkeypatch.setattr(ensemble, "CHUNK", 4)  # many chunks in flight, finishing out of order
    monkeypatch.setattr("munchables.tagging.parallel.CHUNK", 4)
    write = collection.Output.write
    count = [0]

    def killed(self, tagged):  # the first run stops after 13 documents, as a kill would
        if count[0] == 13:
            raise KeyboardInterrupt
        count[0] += 1
        write(self, tagged)

    with monkeypatch.context() as m:
        m.setattr(collection.Output, "write", killed)
        assert run(*args, "--out", two, "--jobs", "2") == 130
    assert one.read_bytes().startswith(two.read_bytes()) and two.read_bytes() != one.read_bytes()
    assert run(*args, "--out", two, "--jobs", "2", "--resume") == 0
    assert two.read_bytes() == one.read_bytes()


def test_a_folder_into_a_folder_with_a_manifest(model_dir, folder, tmp_path, capsys):
    out = tmp_path / "tagged"
    args = ["--model", model_dir, "--input", folder, "--format", "pubtator", "--out-dir", out]
    assert run(*args) == 0
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["a.pubtator", "c.pubtator", MANIFEST, "sub/b.pubtator"]
    assert run("--model", model_dir, "--input", folder / "a.pubtator", "--format", "pubtator") == 0
    assert (out / "a.pubtator").read_text() == capsys.readouterr().out  # as the one-stream output of that file
    records = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert sorted(r["input"] for r in records) == ["a.pubtator", "c.pubtator.gz", "sub/b.pubtator"]
    assert sum(r["documents"] for r in records) == 40
    assert run(*args) == 2 and "--resume skips the files it finished" in capsys.readouterr().err
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.pubtator")}
    (folder / "a.pubtator").write_text("9|t|Caffeine\n9|a|Asthma .\n\n")  # changed: tagged again, the rest skipped
    assert run(*args, "--resume") == 0
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*.pubtator")}
    assert [p.name for p in before if before[p] != after[p]] == ["a.pubtator"]
    assert (out / "a.pubtator").read_text().startswith("9|t|Caffeine")
    assert run(*args, "--resume", "--heads", "all") == 2
    assert "written with other settings" in capsys.readouterr().err
    (out / "sub" / "b.pubtator").unlink()
    (out / MANIFEST).unlink()
    assert run(*args, "--resume") == 2  # c.pubtator exists, and no record says munch tag wrote it
    assert "is not in munch-manifest.jsonl" in capsys.readouterr().err
    assert run(*args, "--out-dir", folder / "sub", "--overwrite") == 2  # inside an input directory
    assert "lies inside the input directory --input" in capsys.readouterr().err
    assert run("--model", model_dir, "--input", folder / "a.pubtator", "--format", "pubtator",
               "--out-dir", folder, "--overwrite") == 2
    assert "an output must never be an input" in capsys.readouterr().err
    assert run("--model", model_dir, "--input", folder, "--format", "pubtator", "--engine", "ray") == 2
    assert "give --out-dir DIR" in capsys.readouterr().err


def test_ray_tags_each_file_as_a_task(model_dir, folder, tmp_path):
    ray = pytest.importorskip("ray")
    out, local = tmp_path / "ray", tmp_path / "local"
    args = ["--model", model_dir, "--input", folder, "--format", "bioc-xml", "--heads", "all"]
    try:
        assert run(*args, "--out-dir", out, "--engine", "ray", "--jobs", "2") == 0
    finally:
        ray.shutdown()
    assert run(*args, "--out-dir", local) == 0
    for path in local.rglob("*.xml"):
        assert (out / path.relative_to(local)).read_bytes() == path.read_bytes()
    assert len(list(out.rglob("*.xml"))) == 3 and not [p for p in out.rglob("*") if p.name.startswith(".")]


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt,options", [("jsonl", ["--offsets", "utf16"]), ("bioc-json", ["--offsets", "utf16"]),
                                         ("pubtator", ["--drop-existing"]), ("jsonl", ["--drop-existing"]),
                                         ("brat", []), ("brat", ["--drop-existing"])])
def test_every_output_of_a_folder_is_what_out_gives_for_that_file(model_dir, tmp_path, fmt, options):
    """--out-dir takes every option --out takes, and each file's output is --out's for that file:
    UTF-16 offsets past an emoji, the input's own annotations kept or dropped, brat folders, the
    model marker on our entities."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    title = "Aspirin \U0001F48A and fever"  # one code point, two UTF-16 units, before the entities
    for path, first in ((folder / "a.pubtator", 1), (folder / "sub" / "b.pubtator", 5)):
        path.write_text("".join(f"{i}|t|{title}\n{i}|a|Patients given caffeine reported asthma .\n"
                                f"{i}\t10\t17\tfever\tDisease\tD005334\n\n" for i in range(first, first + 3)),
                        encoding="utf-8")
    out = tmp_path / "tagged"
    args = ["--model", model_dir, "--heads", "all", "--format", fmt, *options]
    assert run(*args, "--input", folder, "--out-dir", out) == 0
    outputs = {name: data for name, data in _tree(out).items() if name != MANIFEST}
    expected = {}
    for name in ("a.pubtator", "sub/b.pubtator"):
        single = tmp_path / "single" / name.replace(".pubtator", "")
        single.parent.mkdir(parents=True, exist_ok=True)
        target = single if fmt == "brat" else single.with_name(single.name + "." + {"bioc-json": "json"}.get(fmt, fmt))
        assert run(*args, "--input", folder / name, "--out", target) == 0
        if fmt == "brat":
            expected |= {f"{name.replace('.pubtator', '')}/{k}": v for k, v in _tree(target).items()}
        else:
            expected[str(target.relative_to(tmp_path / "single"))] = target.read_bytes()
    assert outputs == expected
    text = b"".join(expected.values())
    assert (b"D005334" in text) == ("--drop-existing" not in options)  # the input's own annotation
    if fmt in ("jsonl", "bioc-json"):
        assert b'"model": "model"' in text or b'"model":"model"' in text


def test_a_brat_folder_tagged_again_replaces_the_old_one_whole(model_dir, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "tagged"
    folder.mkdir()
    (folder / "a.pubtator").write_text("1|t|Aspirin and fever\n1|a|Caffeine and asthma .\n\n2|t|Fever\n2|a|x .\n\n")
    args = ["--model", model_dir, "--input", folder, "--format", "brat", "--out-dir", out]
    assert run(*args) == 0
    assert sorted(_tree(out / "a")) == ["1.ann", "1.txt", "2.ann", "2.txt"]
    (folder / "a.pubtator").write_text("3|t|Aspirin\n3|a|Caffeine .\n\n")
    assert run(*args, "--resume") == 0  # changed: tagged again, the old documents gone with the old folder
    assert sorted(_tree(out / "a")) == ["3.ann", "3.txt"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folder left
