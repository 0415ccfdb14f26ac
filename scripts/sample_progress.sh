#!/usr/bin/env bash
# Every INTERVAL seconds while PID runs: seconds since start, documents in OUT (PubTator titles, in a
# file or the *.pubtator files of a folder) and the resident memory of PID and its descendants (KB, largest).
# Usage: bash scripts/sample_progress.sh PID OUT [INTERVAL]
pid=$1; out=$2; interval=${3:-30}; start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  sleep "$interval"
  docs=$(cat $( [ -d "$out" ] && find "$out" -name '*.pubtator' || echo "$out") 2>/dev/null | grep -c '|t|')
  pids=$(pstree -p "$pid" 2>/dev/null | grep -o '([0-9]*)' | tr -d '()' | tr '\n' ',')
  rss=$(ps -o rss= -p "${pids%,}" 2>/dev/null | sort -n | tail -1)
  echo "sample: $(( $(date +%s) - start )) s, $docs documents, largest process $rss KB, load $(cut -d' ' -f1 /proc/loadavg)"
done
