#!/usr/bin/env bash
# Installs the Debian packages ipcq builds and tests with, if any is missing.
# Run as root (as on a fresh Debian 12 machine); a no-op when all are there.
set -euo pipefail

# clang and libclang-rt-14-dev (its sanitizer and libFuzzer runtimes) build
# the fuzz targets of tests/fuzz; python3-venv, -setuptools, -wheel and
# -pytest install and test the Python client (python/) without the Python
# package index. libnats-dev builds the nats:// backend of libipcq and
# nats-server runs the 3-node JetStream cluster its tests start. scdoc turns
# docs/man/*.scd into the man pages at build time; man-db and groff-base
# render them in their test (docs/man/check_man.sh). libsystemd-dev gives
# ipcqd sd_notify (the service unit's Type=notify); ipcqd builds without it,
# and then tells systemd nothing.
packages=(build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev
          protobuf-c-compiler libcmocka-dev clang libclang-rt-14-dev
          python3-venv python3-setuptools python3-wheel python3-pytest
          libnats-dev nats-server scdoc man-db groff-base libsystemd-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
