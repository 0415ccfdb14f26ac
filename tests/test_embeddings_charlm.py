"""Character language models: they learn, report bits per character, checkpoint and resume exactly."""

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from munchables.cli import main
from munchables.embeddings.charlm import (
    UNKNOWN,
    CharLM,
    CharLMConfig,
    CharLMTraining,
    TextStreams,
    batchify,
    build_chars,
    read_state,
    split_text,
    train_charlm,
)
from munchables.errors import UserError

CPU = torch.device("cpu")


def repetitive_text(path, lines=60):
    path.write_text("".join("abcabcabc abc\n" for _ in range(lines)), encoding="utf-8")
    return path


def small(**kw):
    return CharLMTraining(**{"epochs": 2, "batch_size": 4, "bptt": 20, "lr": 5.0, "held_out": 0.1, **kw})


def test_bits_per_char_fall_far_below_uniform_on_a_repetitive_text(tmp_path):
    text = repetitive_text(tmp_path / "t.txt")
    history = train_charlm(text, tmp_path / "lm.pt", CharLMConfig(hidden=32, char_dim=8), small(epochs=8), CPU)
    uniform = math.log2(6)  # UNKNOWN, a, b, c, space, newline
    assert len(history) == 8 and all(r["epoch"] == i + 1 for i, r in enumerate(history))
    assert history[0]["bpc"] < uniform
    assert history[-1]["bpc"] < 0.5 < history[0]["bpc"]  # the text is all but deterministic


def test_resuming_after_an_epoch_gives_the_same_model_as_training_straight_through(tmp_path):
    text = repetitive_text(tmp_path / "t.txt", 40)
    config = CharLMConfig(hidden=12, char_dim=4)
    train_charlm(text, tmp_path / "straight.pt", config, small(epochs=3), CPU)
    train_charlm(text, tmp_path / "resumed.pt", config, small(epochs=1), CPU)
    train_charlm(text, tmp_path / "resumed.pt", config, small(epochs=3), CPU, resume=True)
    a, b = read_state(tmp_path / "straight.pt"), read_state(tmp_path / "resumed.pt")
    assert [r["bpc"] for r in a["progress"]["history"]] == [r["bpc"] for r in b["progress"]["history"]]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert b["progress"]["done"]


def test_an_existing_output_needs_resume_and_the_same_settings(tmp_path):
    text = repetitive_text(tmp_path / "t.txt", 20)
    train_charlm(text, tmp_path / "lm.pt", CharLMConfig(hidden=8, char_dim=4), small(epochs=1), CPU)
    with pytest.raises(UserError, match="--resume"):
        train_charlm(text, tmp_path / "lm.pt", CharLMConfig(hidden=8, char_dim=4), small(epochs=2), CPU)
    with pytest.raises(UserError, match="different model"):
        train_charlm(text, tmp_path / "lm.pt", CharLMConfig(hidden=9, char_dim=4), small(epochs=2), CPU, resume=True)
    with pytest.raises(UserError, match="different training settings"):
        train_charlm(text, tmp_path / "lm.pt", CharLMConfig(hidden=8, char_dim=4), small(epochs=2, bptt=7), CPU, resume=True)


@pytest.mark.parametrize("damage", [lambda s: s["progress"].pop("rng"), lambda s: s.update(progress=3)])
def test_a_checkpoint_with_damaged_progress_is_refused_in_one_line(tmp_path, damage):
    text = repetitive_text(tmp_path / "t.txt", 20)
    config = CharLMConfig(hidden=8, char_dim=4)
    train_charlm(text, tmp_path / "lm.pt", config, small(epochs=1), CPU)
    state = read_state(tmp_path / "lm.pt")
    damage(state)
    torch.save(state, tmp_path / "lm.pt")
    with pytest.raises(UserError, match="damaged or incomplete"):
        train_charlm(text, tmp_path / "lm.pt", config, small(epochs=2), CPU, resume=True)


def test_a_deadline_stops_with_a_checkpoint_that_resumes_mid_epoch(tmp_path):
    text = repetitive_text(tmp_path / "t.txt", 40)
    config = CharLMConfig(hidden=8, char_dim=4)
    history = train_charlm(text, tmp_path / "lm.pt", config, small(epochs=1, max_minutes=1e-9), CPU)
    assert history[-1]["partial"] and history[-1]["windows"] == 1  # stopped after the first window
    state = read_state(tmp_path / "lm.pt")
    assert state["progress"]["position"] == 1 and not state["progress"]["done"]
    history = train_charlm(text, tmp_path / "lm.pt", config, small(epochs=1), CPU, resume=True)
    assert [r["epoch"] for r in history] == [1] and "partial" not in history[0]
    assert read_state(tmp_path / "lm.pt")["progress"]["done"]


def test_the_backward_model_reads_reversed_text_and_unknown_characters_map_to_index_0():
    lm = CharLM(CharLMConfig(direction="backward", hidden=4, char_dim=2), [UNKNOWN, "a", "b", "\n"])
    assert lm.encode_text("ab\nz").tolist() == [0, 3, 2, 1]
    forward = CharLM(CharLMConfig(hidden=4, char_dim=2), [UNKNOWN, "a", "b"])
    assert forward.encode_text("ab\u20acb").tolist() == [1, 2, 0, 2]


def test_held_out_lines_are_the_last_ones_and_streams_are_consecutive_text():
    train, held = split_text([f"line{i}" for i in range(10)], 0.2)
    assert held == "line8\nline9\n" and train.endswith("line7\n")
    data = batchify(torch.arange(10), 3)
    assert data.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_munch_charlm_command_writes_a_loadable_model_and_reports_bits_per_char(tmp_path, capsys):
    text = repetitive_text(tmp_path / "t.txt", 20)
    out = tmp_path / "fwd.pt"
    assert main(["charlm", "--text", str(text), "--direction", "forward", "--out", str(out), "--hidden", "8",
                 "--epochs", "1", "--batch-size", "2", "--bptt", "10", "--device", "cpu"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["epoch"] == 1 and 0 < record["bpc"] < 10
    lm = CharLM.load(out)
    assert lm.config.direction == "forward" and lm.hidden == 8 and not lm.training


def test_missing_text_and_bad_direction_are_user_errors(tmp_path, capsys):
    assert main(["charlm", "--text", str(tmp_path / "none.txt"), "--direction", "forward", "--out", str(tmp_path / "x.pt")]) == 2
    assert "none.txt: text file not found" in capsys.readouterr().err
    text = repetitive_text(tmp_path / "t.txt", 5)
    assert main(["charlm", "--text", str(text), "--direction", "sideways", "--out", str(tmp_path / "x.pt")]) == 2
    assert "forward, backward" in capsys.readouterr().err


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=12), min_size=2, max_size=30),
       block=st.integers(1, 40), held_out=st.floats(0.01, 0.9), direction=st.sampled_from(["forward", "backward"]),
       gzipped=st.booleans())
def test_streamed_text_gives_the_indices_of_the_text_held_whole(tmp_path, lines, block, held_out, direction, gzipped):
    """TextStreams reads the file a line at a time in blocks into a memory-mapped file: its indices
    are exactly those of the whole text (split_text, Counter, encode_text), both directions, any
    block size, blank lines and stray whitespace dropped, gzip inflated."""
    import gzip
    import tempfile
    from collections import Counter

    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))  # one folder per example
    kept = [line.strip() for line in "\n".join(lines).splitlines() if line.strip()]
    raw = ("\n".join(lines) + "\n").encode("utf-8")
    path = tmp_path / ("t.txt.gz" if gzipped else "t.txt")
    path.write_bytes(gzip.compress(raw) if gzipped else raw)
    if len(kept) < 2:
        with pytest.raises(UserError):
            TextStreams(path, held_out)
        return
    train_text, held_text = split_text(kept, held_out)
    streams = TextStreams(path, held_out)
    assert build_chars(streams.counts) == build_chars(Counter(train_text))
    model = CharLM(CharLMConfig(direction=direction, hidden=4, char_dim=2), build_chars(Counter(train_text)))
    streams.BLOCK = block
    train_ids, held_ids = streams.encode(model, tmp_path / "lm.pt")
    assert train_ids.tolist() == model.encode_text(train_text).tolist()
    assert held_ids.tolist() == model.encode_text(held_text).tolist()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the mapped file is gone from the folder
