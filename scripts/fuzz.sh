#!/usr/bin/env bash
# Long fuzzing, by hand, never in CI: builds the libFuzzer targets of
# tests/fuzz with clang under ASan+UBSan and fuzzes each for SECONDS
# (default 600) with a fresh random seed, all in parallel, starting from the
# checked-in corpus. New inputs that reach new coverage are merged (minimised)
# back into tests/fuzz/corpus/TARGET, to be committed. A crash, leak, hang or
# undefined behaviour stops that target; its input is left in
# build/fuzz-long/TARGET/ as crash-*, leak-*, timeout-* or oom-*: fix the
# bug, then add the input to tests/fuzz/regressions/TARGET/ so that every
# CI run replays it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     TARGET: broker, client, client_lane, lane, cli
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/fuzz.sh [SECONDS] [broker|client|client_lane|lane|cli ...]" >&2; exit 2; }
[ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ] && { sed -n '2,13p' "$0" | cut -c3-; exit 0; }
seconds=600
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
[ "$seconds" -gt 0 ] || usage
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(broker client client_lane lane cli)
for t in "${targets[@]}"; do
    case $t in broker | client | client_lane | lane | cli) ;; *) echo "scripts/fuzz.sh: unknown target '$t'" >&2; usage ;; esac
done

bash scripts/deps.sh
build=${IPCQ_FUZZ_BUILD:-build/fuzz}
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPCQ_FUZZ=ON \
      -DIPCQ_SANITIZE=ON -DIPCQ_WERROR=ON -DIPCQ_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

work=build/fuzz-long
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The corpus of each target: fuzz_client_lane shares fuzz_client's.
corpus_of() { [ "$1" = client_lane ] && echo client || echo "$1"; }
pids=()
for t in "${targets[@]}"; do
    rm -rf "${work:?}/$t"
    mkdir -p "$work/$t/corpus"
    cp tests/fuzz/corpus/"$(corpus_of "$t")"/* "$work/$t/corpus/"
    flags=(-timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -artifact_prefix="$work/$t/"
           -max_total_time="$seconds" -print_final_stats=1)
    [ "$t" != cli ] || flags+=(-dict=tests/fuzz/cli.dict)
    echo "fuzz: $t for $seconds s (log: $work/$t/log)"
    (TMPDIR="$work/$t" "$build/tests/fuzz/fuzz_$t" "${flags[@]}" "$work/$t/corpus" \
        >"$work/$t/log" 2>&1) &
    pids+=($!)
done

failed=()
for i in "${!targets[@]}"; do
    t=${targets[$i]}
    if wait "${pids[$i]}"; then
        corpus=tests/fuzz/corpus/$(corpus_of "$t")
        before=$(ls "$corpus" | wc -l)
        "$build/tests/fuzz/fuzz_$t" -merge=1 "$corpus" "$work/$t/corpus" \
            >>"$work/$t/log" 2>&1
        after=$(ls "$corpus" | wc -l)
        echo "fuzz: $t: nothing found; $((after - before)) new inputs merged into $corpus"
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$work/$t/log" | sed "s/^/fuzz: $t: /"
    else
        failed+=("$t")
        echo "fuzz: $t FOUND A BUG: see $work/$t/log and the input in $work/$t/" >&2
    fi
done
[ ${#failed[@]} -eq 0 ]
