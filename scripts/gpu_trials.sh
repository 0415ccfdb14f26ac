#!/usr/bin/env bash
# Trials of the lowres-cpu table on one GPU machine, into a store that comes back and is merged
# (docs/results.md, "What ran on the GPU"). Run from the repository root there, with:
#   .dev/data/        the corpora (ncbi-disease, s800, bc5cdr-disease, bc2gm, linnaeus)
#   .dev/subset.npz   munch vector-subset --vectors runs/evidence/fasttext-100.bin \
#                       --corpora ncbi-disease,s800,bc5cdr-disease,bc2gm,linnaeus --out .dev/subset.npz
#   docs/results/lowres-cpu.sqlite   the committed store (its finished trials are skipped)
# Usage: scripts/gpu_trials.sh SECONDS TARGETS METHODS JOBS OUT_STORE
# e.g.   scripts/gpu_trials.sh 520 s800 single-aux,conc,iter,stack 11 /tmp/gpu.sqlite
# then, back here: munch merge-stores --store docs/results/lowres-cpu.sqlite gpu.sqlite
# Many one-thread workers share the GPU well only through MPS (one process alone: 1,340 sent/s on
# an H200; twelve without MPS: ~250 each; sixteen with MPS: ~490 each). Give it only trials that
# can finish in SECONDS: an interrupted trial's checkpoint stays on that machine.
set -u
SECONDS_LEFT=$1 TARGETS=$2 METHODS=$3 JOBS=$4 STORE=$5
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
if command -v nvidia-cuda-mps-control >/dev/null && ! pgrep -x nvidia-cuda-mps >/dev/null; then
  nvidia-cuda-mps-control -d || echo "MPS did not start: the workers time-share the GPU"
fi
[ -f "$STORE" ] || cp docs/results/lowres-cpu.sqlite "$STORE"
timeout -s INT "$SECONDS_LEFT" python3 -m munchables.cli reproduce --preset lowres-cpu \
  --aux bc5cdr-disease,bc2gm,linnaeus --seeds 3 --word-vectors .dev/subset.npz --device cuda \
  --store "$STORE" --runs-dir /tmp/trials --data-dir .dev/data --no-fetch \
  --targets "$TARGETS" --methods "$METHODS" --jobs "$JOBS"
python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('PRAGMA wal_checkpoint(TRUNCATE)'); print(db.execute('select count(*) from trials where device like \"cuda%\"').fetchone()[0], 'trials ran on the GPU')" "$STORE"
