#!/usr/bin/env bash
# Runs one detect fuzzer: a writable corpus in the build directory first,
# then seeds: our own seed files, plus lines of the shared security corpus
# (when ../shared exists) written one per file.
#   run-fuzz.sh FUZZER WORKDIR SEEDS_DIR SECONDS
set -euo pipefail
fuzzer=$(realpath "$1") work=$2 seeds=$(realpath "$3") secs=$4
mkdir -p "$work/corpus" "$work/shared-seeds"
shared=${MM_SHARED_DIR:-}/security-corpus
if [ -d "$shared" ] && [ -z "$(ls -A "$work/shared-seeds")" ]; then
  # A sample of every file keeps start-up short.
  for f in "$shared"/*.txt; do
    awk -v d="$work/shared-seeds" -v b="$(basename "$f" .txt)" \
      'NR % 7 == 1 { fn = sprintf("%s/%s-%05d", d, b, NR); printf "%s", $0 > fn; close(fn) }' "$f"
  done
fi
cd "$work"
exec "$fuzzer" -max_total_time="$secs" -timeout=1 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 corpus "$seeds" shared-seeds
