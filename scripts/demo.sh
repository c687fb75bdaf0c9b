#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo: a broker on the
# default endpoint (no flags: the per-user unix:// socket, here under a
# scratch $XDG_RUNTIME_DIR), items put and got through it with the ipcq CLI,
# the broker stopped again; then forked producers and consumers, and a
# process pool, each surviving kill -9 of one of its processes.
#
# Every step checks what it shows (its exit status, and its output where the
# output is the point): the demo exits 0 only if every step did, and names
# the first step that did not otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build=${IPCQ_DEMO_BUILD:-build/release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIPCQ_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

ipcqd="$build/broker/ipcqd"
ipcq="$build/tools/ipcq"
pool="$build/tools/ipcq-pool"
dir=$(mktemp -d /tmp/ipcq-demo-XXXXXX)
broker=

# Stops the broker if it still runs and removes the scratch directory; it
# never fails, so that it cannot change the demo's own exit status.
cleanup() {
    if [ -n "$broker" ] && kill -0 "$broker" 2>/dev/null; then
        kill "$broker" 2>/dev/null || true
        wait "$broker" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "demo: FAILED: $*" >&2
    exit 1
}

# step STATUS EXPECTED_OUTPUT PROGRAM ARGS...: shows the command as a user
# would type it, runs it, and fails the demo unless it exits with STATUS
# and (when EXPECTED_OUTPUT is not "-") prints exactly EXPECTED_OUTPUT.
step() {
    local want_status=$1 want_output=$2 prog=$3
    shift 3
    printf '$ %s' "$(basename "$prog")"
    printf ' %q' "$@"
    echo
    local output status=0
    output=$("$prog" "$@") || status=$?
    [ -z "$output" ] || printf '%s\n' "$output"
    [ "$status" -eq "$want_status" ] ||
        fail "$(basename "$prog") $* exited $status, expected $want_status"
    [ "$want_output" = "-" ] || [ "$output" = "$want_output" ] ||
        fail "$(basename "$prog") $* printed something else than expected"
}

# No flags anywhere: ipcqd and ipcq meet on the default endpoint,
# unix://$XDG_RUNTIME_DIR/ipcq/broker.sock (SPEC §1). A scratch
# $XDG_RUNTIME_DIR keeps the demo off any broker the user runs.
export XDG_RUNTIME_DIR=$dir
unset IPCQ_BROKER
echo '$ ipcqd &'
"$ipcqd" --log-level warn &
broker=$!

# Wait for the broker to answer (ping fails at once while nothing listens).
for _ in $(seq 1 200); do
    "$ipcq" ping >/dev/null 2>&1 && break
    kill -0 "$broker" 2>/dev/null || fail "ipcqd exited during start-up"
    sleep 0.05
done
step 0 - "$ipcq" ping
[ -S "$dir/ipcq/broker.sock" ] || fail "no socket at \$XDG_RUNTIME_DIR/ipcq/broker.sock"
echo "demo: ipcqd and ipcq met on unix://\$XDG_RUNTIME_DIR/ipcq/broker.sock"
step 0 "" "$ipcq" create jobs --maxsize 4
step 0 "" "$ipcq" put jobs "first job" "second job"
echo '$ printf "line one\nline two\n" | ipcq put jobs --lines'
printf 'line one\nline two\n' | "$ipcq" put jobs --lines || fail "put --lines"
step 0 - "$ipcq" stat jobs
echo '# maxsize 4: the queue is full, so this put fails at once with exit 1'
step 1 "" "$ipcq" put jobs overflow --nowait
step 0 "$(printf 'first job\nsecond job\nline one\nline two')" "$ipcq" get jobs -n 4
step 0 - "$ipcq" stat jobs --json
echo '# the queue is empty: after 0.2 s the get gives up with exit 1'
step 1 "" "$ipcq" get jobs --timeout 0.2

echo '$ kill -TERM %ipcqd'
kill -TERM "$broker"
status=0
wait "$broker" || status=$?
broker=
[ "$status" -eq 0 ] || fail "ipcqd exited $status after SIGTERM, expected 0"
echo "demo: broker stopped cleanly"

# Processes and pool workers, each run with a private broker of its own;
# each checks its own result (every item exactly once, the right sum) and
# exits non-zero otherwise.
echo
step 0 - "$pool" prodcons --producers 2 --consumers 2 --items 20000 --kill-one
echo
step 0 - "$pool" primes --workers 2 --limit 100000 --kill-one
echo
echo "demo: every step did what it shows"
