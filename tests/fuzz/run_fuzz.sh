#!/bin/sh
# Runs one libFuzzer target for a bounded time, as ctest's fuzz tests do:
#
#   run_fuzz.sh FUZZER SEEDS REGRESSIONS WORKDIR SECONDS [LIBFUZZER FLAGS...]
#
# First every reproducer in REGRESSIONS (inputs that once crashed, leaked or
# hung; the bug is fixed) runs once. Then the fuzzer runs for SECONDS on a
# copy of SEEDS in WORKDIR, which it may grow, so that the source tree is
# never written; a crash, leak (LeakSanitizer), undefined behaviour, an
# input that runs over 10 s or memory over 2 GiB stops it with a non-zero
# status and leaves the input in WORKDIR as crash-*, leak-*, timeout-* or
# oom-*. The last lines say how many inputs ran and the coverage reached.
set -eu
fuzzer=$1 seeds=$2 regressions=$3 work=$4 seconds=$5
shift 5
rm -rf "$work"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
# Whatever a target leaves in $TMPDIR when it dies stays in WORKDIR.
export TMPDIR="$work"
set -- -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -artifact_prefix="$work/" "$@"
if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "== $(ls "$regressions" | wc -l) regression inputs, each once"
    "$fuzzer" "$@" "$regressions"/*
fi
echo "== fuzzing for $seconds s"
exec "$fuzzer" "$@" -max_total_time="$seconds" -print_final_stats=1 "$work/corpus"
