"""`munch schedule` on the real corpora prints what it printed when the traces were recorded.

tests/data/schedule_traces/ holds the output of the commands below, recorded before the settings
moved to settings.py (issue 23); any change to flags, options, batching, schedules, methods or
the auxiliary order shows here as a byte difference. Needs ncbi-disease, bc5cdr-disease and bc2gm
in the data directory (../shared/data); skipped without them.
"""

from pathlib import Path

import pytest

from munchables.cli import main
from munchables.data.corpus import available_corpora, default_data_dir

TRACES = Path(__file__).parent / "data" / "schedule_traces"
COMMON = ["schedule", "--target", "ncbi-disease", "--aux", "bc5cdr-disease,bc2gm", "--train-limit", "50",
          "--max-epochs", "2", "--no-fetch"]
RUNS = {  # trace file -> flags beyond COMMON
    "single-task": ["--method", "single-task"],
    "multi-task": ["--method", "multi-task"],
    "single-aux": ["--method", "single-aux"],
    "conc": ["--method", "conc"],
    "iter": ["--method", "iter"],
    "stack": ["--method", "stack"],
    "iter-epoch": ["--method", "iter", "--iter-switch", "epoch"],
    "stack-given": ["--method", "stack", "--aux-order", "given", "--seed", "3", "--batch-size", "16"],
    "conc-whole": ["--method", "conc", "--aux-whole", "--train-limit", "20"],
}


@pytest.fixture(scope="module")
def data_dir():
    directory = default_data_dir()
    if directory is None or not directory.is_dir():
        pytest.skip("no data directory (set MUNCHABLES_DATA or put the corpora in ../shared/data)")
    if not {"ncbi-disease", "bc5cdr-disease", "bc2gm"} <= set(available_corpora(directory)):
        pytest.skip(f"ncbi-disease, bc5cdr-disease and bc2gm are not all under {directory}")
    return directory


@pytest.mark.parametrize("run", list(RUNS))
def test_schedule_prints_the_recorded_trace(data_dir, run, capsys):
    assert main([*COMMON, "--data-dir", str(data_dir), *RUNS[run]]) == 0
    assert capsys.readouterr().out == (TRACES / f"{run}.jsonl").read_text(encoding="utf-8")
