"""Per method, the first losses of a tiny seeded `munch train` run, pinned (torchtune's habit).

Each method trains two epochs (per stage) on tiny corpora written here, one CPU thread, a fixed
seed; the epoch log's losses (log.jsonl: the target's mean batch loss and the auxiliary one) must
match the numbers recorded when the test was written. A change to the model, the schedules, the
batching, the initialisation or the update shows here first; a change meant to alter them
re-records the numbers (run with PIN=1 to print them) and says why in its commit.
"""

import json
import os

import pytest

from munchables.cli import main

# (tokens, tags) sentences; three corpora so that iter and stack have an order to follow
CHEMICAL = [("aspirin", "B-Chemical"), ("nitric", "B-Chemical"), ("oxide", "I-Chemical"), ("caffeine", "B-Chemical")]
DISEASE = [("fever", "B-Disease"), ("lung", "B-Disease"), ("cancer", "I-Disease"), ("asthma", "B-Disease")]
TEMPLATES = [
    "patients given {} improved .", "{} was reported in two cases .", "no effect of {} on the 12 rats .",
    "the dose of {} was lowered .", "we saw {} after a week .", "{} and {} were both present .",
]


def _sentences(n: int, entities, offset: int) -> list[list[tuple[str, str]]]:
    """n sentences from the templates, each slot filled with an entity phrase in turn."""
    phrases = [[entities[0]], [entities[1], entities[2]], [entities[3]]]
    out = []
    for i in range(n):
        words = TEMPLATES[(i + offset) % len(TEMPLATES)].split()
        sentence, k = [], i
        for w in words:
            if w == "{}":
                sentence += phrases[k % len(phrases)]
                k += 1
            else:
                sentence.append((w, "O"))
        out.append(sentence)
    return out


def _write(directory, n_train, entities, offset):
    directory.mkdir(parents=True)
    for split, n, shift in (("train", n_train, 0), ("dev", 3, 1), ("test", 3, 2)):
        text = "\n".join("".join(f"{t}\t{g}\n" for t, g in s) for s in _sentences(n, entities, offset + shift))
        (directory / f"{split}.tsv").write_text(text, encoding="utf-8")


@pytest.fixture
def corpora(tmp_path):
    data = tmp_path / "data"
    _write(data / "main", 8, CHEMICAL, 0)
    _write(data / "auxd", 6, DISEASE, 3)
    _write(data / "auxc", 5, CHEMICAL, 4)
    return data


# a run's name -> its flags beyond the method's; PINNED: [(stage, epoch, main_loss, aux_loss)] of its log.jsonl
RUNS = {
    "single-task": [],
    "multi-task": [],
    "single-aux": [],
    "conc": [],
    "iter": [],
    "iter-epoch": ["--iter-switch", "epoch"],
    "stack": [],
    "iter-sort": ["--aux-order", "sorted"],  # by the single-aux candidates' dev F1 (section 5.1)
    "stack-sort": ["--aux-order", "sorted"],
}
PINNED = {  # recorded with torch 2.13.0 on a CPU, one thread
    "single-task": [(1, 1, 6.579538345336914, None), (1, 2, 4.460488319396973, None)],
    "multi-task": [(1, 1, 7.4513092041015625, 7.5661115646362305), (1, 2, 4.8128437995910645, 5.807112693786621)],
    "single-aux": [(1, 1, 6.959615707397461, 7.62082576751709), (1, 2, 4.6323747634887695, 4.794320106506348)],
    "conc": [(1, 1, 6.965332508087158, 8.360933303833008), (1, 2, 4.6068220138549805, 5.704724311828613)],
    "iter": [(1, 1, 5.986518859863281, 7.335379600524902), (1, 2, 4.457022666931152, 4.646492958068848)],
    "iter-epoch": [(1, 1, 7.09375, 7.614564895629883), (1, 2, 4.8792877197265625, 7.056194305419922)],
    "stack": [(1, 1, 7.09375, 7.614564895629883), (1, 2, 4.689036846160889, 4.845881938934326),
              (2, 1, 4.431798934936523, 8.204145431518555), (2, 2, 4.422989845275879, 4.682626247406006)],
    "iter-sort": [(1, 1, 5.972216606140137, 7.527846336364746), (1, 2, 4.398207664489746, 5.1669721603393555)],
    "stack-sort": [(1, 1, 7.177364826202393, 7.494468688964844), (1, 2, 4.723014831542969, 5.708785057067871),
                   (2, 1, 4.540475368499756, 8.26478385925293), (2, 2, 4.281871795654297, 4.939227104187012)],
}


@pytest.mark.parametrize("run", list(RUNS))
def test_first_losses_are_as_pinned(corpora, tmp_path, run):
    method = run.split("-")[0] if run in ("iter-epoch", "iter-sort", "stack-sort") else run
    out = tmp_path / "run"
    argv = ["-q", "train", "--target", "main", "--data-dir", str(corpora), "--no-fetch", "--method", method,
            "--aux", "auxd,auxc", "--aux-order", "given", "--max-epochs", "2", "--hidden", "8", "--word-dim", "8",
            "--batch-size", "4", "--lr", "0.1", "--seed", "1", "--threads", "1", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *RUNS[run]]
    if method == "single-task":
        argv.remove("--aux"), argv.remove("auxd,auxc")
    assert main(argv) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [(r["stage"], r["epoch"], r["main_loss"], r["aux_loss"]) for r in log if r.get("event") == "epoch"]
    if os.environ.get("PIN"):
        print(f'\n    "{run}": {losses!r},')
    expected = PINNED[run]
    assert [(s, e) for s, e, *_ in losses] == [(s, e) for s, e, *_ in expected]
    for (_, _, main_loss, aux_loss), (_, _, main_want, aux_want) in zip(losses, expected):
        assert main_loss == pytest.approx(main_want, rel=1e-4)
        assert aux_loss == (None if aux_want is None else pytest.approx(aux_want, rel=1e-4))
