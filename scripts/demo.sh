#!/usr/bin/env bash
# Installs what is missing, builds, and runs the demo: a broker on a
# temporary endpoint, items put and got through it with the ipcq CLI, the
# broker stopped again; then forked producers and consumers, and a process
# pool, each surviving kill -9 of one of its processes.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build=${IPCQ_DEMO_BUILD:-build/release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIPCQ_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

ipcqd="$build/broker/ipcqd"
ipcq="$build/tools/ipcq"
dir=$(mktemp -d /tmp/ipcq-demo-XXXXXX)
export IPCQ_BROKER="ipc://$dir/broker.sock"
"$ipcqd" --bind "$IPCQ_BROKER" --log-level warn &
broker=$!
trap 'kill "$broker" 2>/dev/null; wait "$broker" 2>/dev/null; rm -rf "$dir"' EXIT

# Wait for the broker to answer (ping fails fast while it starts).
for _ in $(seq 1 100); do "$ipcq" ping >/dev/null 2>&1 && break; done
"$ipcq" ping

run() { printf '$ ipcq'; printf ' %q' "$@"; echo; "$ipcq" "$@"; }
run create jobs --maxsize 4
run put jobs "first job" "second job"
echo '$ printf "line one\nline two\n" | ipcq put jobs --lines'
printf 'line one\nline two\n' | "$ipcq" put jobs --lines
run stat jobs
echo '$ ipcq put jobs overflow --nowait        # maxsize 4: the queue is full'
"$ipcq" put jobs overflow --nowait || echo "(exit $?: Full)"
run get jobs -n 4
run stat jobs --json
echo '$ ipcq get jobs --timeout 0.2'
"$ipcq" get jobs --timeout 0.2 || echo "(exit $?: Empty)"
kill -TERM "$broker"
wait "$broker"
echo "demo: broker stopped cleanly"

# Processes and pool workers, each run with a private broker of its own.
pool="$build/tools/ipcq-pool"
echo
echo "\$ ipcq-pool prodcons --producers 2 --consumers 2 --items 20000 --kill-one"
"$pool" prodcons --producers 2 --consumers 2 --items 20000 --kill-one
echo
echo "\$ ipcq-pool primes --workers 2 --limit 100000 --kill-one"
"$pool" primes --workers 2 --limit 100000 --kill-one
