#!/usr/bin/env bash
# The tagging scale benchmark of docs/benchmarks.md ("Tagging on every core and on a Ray cluster"):
# munch tag --jobs 1 / --jobs 2 / --engine ray with two workers, and Flair, on PubTator abstracts made
# from corpus text. Run from the repository root; DATA, WORK and FLAIR_PY may be set.
#   bash scripts/bench_tag_scale.sh 2>&1 | tee bench.log
set -u
DATA=${DATA:-../shared/data}; WORK=${WORK:-/tmp/paths-bench}; FLAIR_PY=${FLAIR_PY:-/tmp/flairenv/bin/python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$WORK"
[ -f "$WORK/model/model.pt" ] || python3 scripts/bench_model.py --data-dir "$DATA" --out "$WORK/model"
[ -d "$WORK/abstracts" ] || python3 scripts/make_abstracts.py --data-dir "$DATA" --abstracts 20000 --files 20 --out "$WORK/abstracts"
[ -d "$WORK/sub1k" ] || python3 scripts/make_abstracts.py --data-dir "$DATA" --abstracts 1000 --files 4 --out "$WORK/sub1k"
step() {  # name, command...: wall seconds and the largest process's peak memory
  local name=$1; shift
  echo "== $name: $* (load $(cut -d' ' -f1 /proc/loadavg))"
  /usr/bin/time -f "== $name: %e s wall, %M KB max RSS" "$@" 2>&1 | grep -E "^==|documents tagged|files tagged|\"tool\"" 
}
M="python3 -m munchables.cli tag --model $WORK/model --format pubtator --threads 1"
if [ "${PART:-all}" != scale ]; then  # PART=scale: only the 20,000-abstract runs
# ratios, one after the other on the same 1,000 abstracts
step "1k jobs1" $M --input "$WORK/sub1k" --out "$WORK/o1.pubtator" --overwrite
step "1k jobs2" $M --input "$WORK/sub1k" --out "$WORK/o2.pubtator" --overwrite --jobs 2
step "1k ray2" $M --input "$WORK/sub1k" --out-dir "$WORK/oray1k" --overwrite --engine ray --jobs 2
step "1k flair1" "$FLAIR_PY" scripts/flair_tag_pubtator.py --input "$WORK/sub1k" --out "$WORK/f1.pubtator" --threads 1
step "1k flair2" "$FLAIR_PY" scripts/flair_tag_pubtator.py --input "$WORK/sub1k" --out "$WORK/f2.pubtator" --threads 2
cmp "$WORK/o1.pubtator" "$WORK/o2.pubtator" && echo "== jobs 1 and jobs 2 outputs identical"
fi
# scale: 20,000 abstracts, documents written and memory sampled every 30 s (cost linear, memory flat)
scaled() {  # name, output, command...
  local name=$1 out=$2; shift 2
  echo "== $name: $* (load $(cut -d' ' -f1 /proc/loadavg))"
  /usr/bin/time -f "== $name: %e s wall, %U s user, %S s system, %M KB max RSS" "$@" > "$WORK/$name.out" 2>&1 &
  local pid=$!
  bash scripts/sample_progress.sh "$pid" "$out" 30
  wait "$pid"
  grep -E "^==|documents tagged|files tagged" "$WORK/$name.out"
}
scaled "20k-jobs2" "$WORK/o20k.pubtator" $M --input "$WORK/abstracts" --out "$WORK/o20k.pubtator" --overwrite --jobs 2
scaled "20k-ray2" "$WORK/oray20k" $M --input "$WORK/abstracts" --out-dir "$WORK/oray20k" --overwrite --engine ray --jobs 2
# ratios on 5,000 abstracts (the first five files), one after the other: --jobs 1, --jobs 2, Ray with two workers
if [ "${PART:-all}" != scale ]; then
  FIVE=$(for f in 000 001 002 003 004; do echo --input "$WORK/abstracts/abstracts$f.pubtator"; done)
  for jobs in 1 2; do
    /usr/bin/time -f "== 5k jobs$jobs: %e s wall, %U s user, %S s system, %M KB max RSS" \
      $M $FIVE --out "$WORK/o5k-$jobs.pubtator" --overwrite --jobs $jobs 2>&1 | grep -E "^==|documents tagged"
  done
  /usr/bin/time -f "== 5k ray2: %e s wall, %U s user, %S s system, %M KB max RSS" \
    $M $FIVE --out-dir "$WORK/oray5k" --overwrite --engine ray --jobs 2 2>&1 | grep -E "^==|files tagged"
  cmp "$WORK/o5k-1.pubtator" "$WORK/o5k-2.pubtator" && echo "== 5k: jobs 1 and jobs 2 outputs identical"
fi
