#!/bin/sh
# Runs one libFuzzer target the same way every time, as ctest's fuzz tests
# (and so CI) do:
#
#   run_fuzz.sh FUZZER SEEDS REGRESSIONS WORKDIR RUNS SEED [LIBFUZZER FLAGS...]
#
# First every reproducer in REGRESSIONS (inputs that once crashed, leaked or
# hung; the bug is fixed) runs once. Then the fuzzer replays a copy of the
# checked-in SEEDS in WORKDIR and mutates them for exactly RUNS executions
# from the fixed random SEED, so that one commit gives one result: a crash
# found here is found again by every run, and none appears by chance. The
# source tree is never written. A crash, leak (LeakSanitizer), undefined
# behaviour, an input that runs over 10 s or memory over 2 GiB stops it with
# a non-zero status and leaves the input in WORKDIR as crash-*, leak-*,
# timeout-* or oom-*. The last lines say how many inputs ran and the
# coverage reached.
#
# Long fuzzing with a fresh random seed, which grows the corpus, is
# scripts/fuzz.sh, never CI.
set -eu
fuzzer=$1 seeds=$2 regressions=$3 work=$4 runs=$5 seed=$6
shift 6
rm -rf "$work"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
# Whatever a target leaves in $TMPDIR when it dies stays in WORKDIR.
export TMPDIR="$work"
set -- -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -artifact_prefix="$work/" "$@"
# Without address-space randomisation a run follows the same path much
# longer: some of the code under test hashes or orders by address.
norandom=
if setarch "$(uname -m)" -R true 2>/dev/null; then
    norandom="setarch $(uname -m) -R"
fi
if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "== $(ls "$regressions" | wc -l) regression inputs, each once"
    "$fuzzer" "$@" "$regressions"/*
fi
echo "== $(ls "$seeds" | wc -l) seeds, then $runs executions in all from seed $seed"
exec $norandom "$fuzzer" "$@" -seed="$seed" -runs="$runs" -print_final_stats=1 "$work/corpus"
