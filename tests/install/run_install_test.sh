#!/usr/bin/env bash
# The install test: `cmake --install` into a scratch prefix, check what it
# put there (the man pages too, where man finds them; the systemd units
# verified by systemd-analyze when it is installed), build consumer.c outside the tree against the installed files
# (pkg-config, pkg-config --static against libipcq.a, find_package(ipcq)
# with ipcq::ipcq and ipcq::ipcq_static) and run every build against the
# installed ipcqd; and configure ipcq as a parent project's subdirectory on a
# machine without cmocka (tests off by default).
#
#   run_install_test.sh BUILD_DIR SOURCE_DIR IPCQD SCRATCH_DIR SOVERSION [SANITIZE]
#
# SOVERSION is the ABI version the shared library must carry (IPCQ_SOVERSION
# in CMakeLists.txt): libipcq.so.SOVERSION is its SONAME.
# SANITIZE is 1 when the project was built with IPCQ_SANITIZE: libipcq is
# then instrumented and every consumer links the sanitizer runtimes too.
# SCRATCH_DIR is wiped first and removed on success (kept on failure, for a
# look). The broker is stopped and reaped whatever happens.
set -euo pipefail

if [[ $# -lt 5 || $# -gt 6 ]]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR IPCQD SCRATCH_DIR SOVERSION [SANITIZE]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
ipcqd_built=$3
scratch=$4
soname=libipcq.so.$5
case "${6:-0}" in
    1 | ON | on | TRUE | true | YES | yes) sanitize=1 ;;
    *) sanitize=0 ;;
esac

here="$src/tests/install"
prefix="$scratch/prefix"
cc=${CC:-cc}
san_flags=()
if ((sanitize)); then
    # shellcheck disable=SC2054 # the commas belong to the flag
    san_flags=(-fsanitize=address,undefined -fno-omit-frame-pointer)
fi

passed=0
failed=0
broker_pid=
sock_dir=
ok=0

# --- bookkeeping ------------------------------------------------------------

stop_broker() {
    # SIGTERM, then SIGKILL if it is still there after 10 s; always reaped.
    # Prints nothing; returns the broker's exit status.
    local pid=$broker_pid status=0
    broker_pid=
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        # A zombie still answers kill -0; wait reaps it below.
        if ! [[ -e /proc/$pid ]] || [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then
            break
        fi
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
        echo "ipcqd ($pid) ignored SIGTERM for 10 s; SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_broker >/dev/null 2>&1
    if ((!ok)); then
        ((failed == 0)) && failed=1
        ((rc == 0)) && rc=1
        [[ -n $sock_dir && $sock_dir != "$scratch" ]] && rm -rf "$sock_dir"
        echo "scratch directory kept: $scratch" >&2
    else
        [[ -n $sock_dir && $sock_dir != "$scratch" ]] && rm -rf "$sock_dir"
        rm -rf "$scratch"
    fi
    echo "install test: $passed passed, $failed failed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass() {
    passed=$((passed + 1))
    echo "ok   $*"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL $*" >&2
    exit 1
}

# True if TEXT names the build tree other than through the scratch prefix
# (which lies inside the build tree when ctest runs this).
names_build() {
    local text=${1//"$prefix"/}
    [[ $text == *"$build"* ]]
}

# Runs a command with its output in a log; shows the log if it fails.
run() {
    local what=$1
    shift
    local log="$scratch/log.$passed"
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "$what"
    fi
    pass "$what"
}

# --- install ----------------------------------------------------------------

rm -rf "$scratch"
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
prefix="$scratch/prefix"

[[ -x $ipcqd_built ]] || fail "built ipcqd $ipcqd_built is not executable"

run "cmake --install into $prefix" cmake --install "$build" --prefix "$prefix"

# --- installed files ----------------------------------------------------------

shopt -s nullglob
libdirs=("$prefix"/lib*/libipcq.so)
shopt -u nullglob
((${#libdirs[@]} == 1)) || fail "exactly one lib*/libipcq.so under $prefix (found ${#libdirs[@]})"
libdir=$(dirname "${libdirs[0]}")
pass "libipcq.so in ${libdir#"$prefix"/}"

expect=(bin/ipcqd "${libdir#"$prefix"/}/libipcq.so" "${libdir#"$prefix"/}/$soname"
        "${libdir#"$prefix"/}/libipcq.a" include/ipcq.h
        "${libdir#"$prefix"/}/pkgconfig/ipcq.pc"
        "${libdir#"$prefix"/}/cmake/ipcq/ipcqConfig.cmake"
        "${libdir#"$prefix"/}/cmake/ipcq/ipcqConfigVersion.cmake"
        "${libdir#"$prefix"/}/cmake/ipcq/ipcqTargets.cmake")
# The CLI only once its target exists in this build.
[[ -e $build/tools/ipcq ]] && expect+=(bin/ipcq)
# The man pages when scdoc built them (docs/man).
man_pages=()
for p in ipcqd.8 ipcq.1 ipcq-pool.1 ipcq-bench.1 ipcq.3; do
    [[ -e $build/docs/man/$p ]] && man_pages+=("$p")
done
for p in "${man_pages[@]}"; do
    expect+=("share/man/man${p##*.}/$p")
done
for f in "${expect[@]}"; do
    [[ -e $prefix/$f ]] || fail "installed $f"
done
pass "installed ${expect[*]}"
# man finds each installed page by name and section in the prefix's man
# directory, as `man ipcq` finds it once the prefix's is on the MANPATH.
for p in "${man_pages[@]}"; do
    found=$(LC_ALL=C man -M "$prefix/share/man" -w "${p##*.}" "${p%.*}" 2>&1) ||
        fail "man -M $prefix/share/man -w ${p##*.} ${p%.*}: $found"
    [[ $found == "$prefix/share/man/man${p##*.}/$p"* ]] ||
        fail "man -w ${p##*.} ${p%.*} finds the installed page (got '$found')"
done
if ((${#man_pages[@]})); then
    pass "man finds the installed pages ${man_pages[*]}"
fi
[[ -x $prefix/bin/ipcqd ]] || fail "bin/ipcqd is executable"
v_built=$("$ipcqd_built" --version 2>&1) ||
    fail "$ipcqd_built --version"
v_inst=$("$prefix/bin/ipcqd" --version 2>&1) ||
    fail "installed ipcqd --version"
[[ $v_inst == "$v_built" ]] || fail "installed ipcqd is the one built ('$v_inst' vs '$v_built')"
pass "installed ipcqd --version: $v_inst"
[[ -L $libdir/libipcq.so && -L $libdir/$soname ]] || fail "libipcq.so and $soname are symlinks"
got_soname=$(readelf -d "$libdir/libipcq.so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[[ $got_soname == "$soname" ]] || fail "SONAME of libipcq.so is $soname (got '$got_soname')"
pass "libipcq.so -> $soname (SONAME $got_soname)"

# --- systemd units ------------------------------------------------------------

# The units name the installed ipcqd (written at install time: the prefix
# of --prefix, not the one configured); outside systemd's own prefix (/usr)
# they go under PREFIX/lib (dist/systemd/CMakeLists.txt).
sys_unit="$prefix/lib/systemd/system/ipcqd.service"
user_unit="$prefix/lib/systemd/user/ipcqd.service"
sysusers="$prefix/lib/sysusers.d/ipcq.conf"
for f in "$sys_unit" "$user_unit" "$sysusers"; do
    [[ -f $f ]] || fail "installed ${f#"$prefix"/}"
done
want="ExecStart=$prefix/bin/ipcqd --bind unix:///run/ipcq/broker.sock --group ipcq --data-dir /var/lib/ipcq"
grep -qxF -- "$want" "$sys_unit" || { grep -n ExecStart "$sys_unit" >&2; fail "system unit: $want"; }
grep -qxF -- "ExecStart=$prefix/bin/ipcqd" "$user_unit" ||
    { grep -n ExecStart "$user_unit" >&2; fail "user unit: ExecStart=$prefix/bin/ipcqd (no --bind)"; }
for f in "$sys_unit" "$user_unit"; do
    grep -qx "Type=notify" "$f" || fail "${f#"$prefix"/}: Type=notify"
done
pass "units installed, ExecStart=$prefix/bin/ipcqd"

# systemd-analyze verify (Debian's systemd package; not a dependency of
# ipcq: without it the units are checked as text only). It exits 0 on an
# unknown key, only saying so: any output fails too. The user manager wants
# a runtime directory of its own.
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$scratch/xdg"
    chmod 0700 "$scratch/xdg"
    run "systemd-analyze verify ipcqd.service" systemd-analyze verify "$sys_unit"
    [[ -s $scratch/log.$((passed - 1)) ]] && { cat "$scratch/log.$((passed - 1))" >&2; fail "systemd-analyze verify says nothing of ipcqd.service"; }
    run "systemd-analyze --user verify ipcqd.service" \
        env XDG_RUNTIME_DIR="$scratch/xdg" systemd-analyze --user verify "$user_unit"
    [[ -s $scratch/log.$((passed - 1)) ]] && { cat "$scratch/log.$((passed - 1))" >&2; fail "systemd-analyze --user verify says nothing of ipcqd.service"; }
else
    echo "skip systemd-analyze verify: not installed (Debian package systemd)"
fi
# The sysusers.d snippet, applied to an empty root: user and group ipcq.
if command -v systemd-sysusers >/dev/null; then
    mkdir -p "$scratch/root/etc"
    run "systemd-sysusers --root applies ipcq.conf" systemd-sysusers --root="$scratch/root" "$sysusers"
    grep -q '^ipcq:x:[0-9]*:[0-9]*:[^:]*:/var/lib/ipcq:' "$scratch/root/etc/passwd" ||
        fail "sysusers.d/ipcq.conf makes user ipcq, home /var/lib/ipcq"
    grep -q '^ipcq:x:[0-9]*:' "$scratch/root/etc/group" || fail "sysusers.d/ipcq.conf makes group ipcq"
    pass "sysusers.d/ipcq.conf makes user and group ipcq"
else
    echo "skip systemd-sysusers: not installed (Debian package systemd)"
fi

# Nothing of the build tree leaks into the installed files.
for f in "$prefix/include/ipcq.h" "$libdir/pkgconfig/ipcq.pc" "$libdir"/cmake/ipcq/*.cmake \
    "$sys_unit" "$user_unit"; do
    if names_build "$(<"$f")"; then
        grep -nF -- "$build" "$f" >&2 || true
        fail "${f#"$prefix"/} does not name the build tree $build"
    fi
done
if names_build "$(readelf -d "$libdir/libipcq.so")"; then
    fail "installed libipcq.so has no RPATH into the build tree"
fi
pass "installed files do not refer to the build tree"

# --- exported symbols -----------------------------------------------------------

nm -D --defined-only "$libdir/libipcq.so" | awk 'NF >= 3 {sub(/@.*/, "", $3); print $3}' |
    sort -u >"$scratch/exported"
# ld may add these markers to the dynamic symbol table; they are not ours.
grep -vxE 'ipcq_[A-Za-z0-9_]+|_edata|_end|__bss_start|_init|_fini' "$scratch/exported" >"$scratch/foreign" || true
if [[ -s $scratch/foreign ]]; then
    sed 's/^/  /' "$scratch/foreign" >&2
    fail "libipcq.so exports only ipcq_ symbols"
fi
pass "libipcq.so exports only ipcq_ symbols ($(grep -c '^ipcq_' "$scratch/exported"))"

# Every function the installed header declares is exported and in libipcq.a.
sed -n 's/^IPCQ_API[^(]*[ *]\(ipcq_[A-Za-z0-9_]*\)(.*/\1/p' "$prefix/include/ipcq.h" | sort -u >"$scratch/declared"
[[ -s $scratch/declared ]] || fail "ipcq.h declares IPCQ_API functions"
missing=$(comm -23 "$scratch/declared" "$scratch/exported")
[[ -z $missing ]] || fail "libipcq.so exports every function of ipcq.h; missing: $missing"
nm -g --defined-only "$libdir/libipcq.a" 2>/dev/null | awk 'NF == 3 && $2 == "T" {print $3}' | sort -u >"$scratch/archived"
missing=$(comm -23 "$scratch/declared" "$scratch/archived")
[[ -z $missing ]] || fail "libipcq.a defines every function of ipcq.h; missing: $missing"
pass "libipcq.so and libipcq.a define all $(wc -l <"$scratch/declared") functions of ipcq.h"

# --- builds outside the tree ------------------------------------------------------

mkdir -p "$scratch/out"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
warn=(-std=c11 -Wall -Wextra -Wpedantic -Wstrict-prototypes -Werror)

# ipcq.pc must describe the prefix it was installed to, not the one
# configured (cmake --install --prefix overrides CMAKE_INSTALL_PREFIX).
pc_libdir=$(pkg-config --variable=libdir ipcq) || fail "pkg-config finds ipcq.pc"
pc_incdir=$(pkg-config --variable=includedir ipcq) || fail "pkg-config finds ipcq.pc"
[[ $(readlink -f "$pc_libdir") == "$(readlink -f "$libdir")" ]] ||
    fail "ipcq.pc libdir is $libdir (got '$pc_libdir')"
[[ $(readlink -f "$pc_incdir") == "$(readlink -f "$prefix/include")" ]] ||
    fail "ipcq.pc includedir is $prefix/include (got '$pc_incdir')"
pass "ipcq.pc points into $prefix"

# (1) pkg-config, shared.
s=$(pkg-config --cflags ipcq) || fail "pkg-config --cflags ipcq"
read -ra pc_cflags <<<"$s"
s=$(pkg-config --libs ipcq) || fail "pkg-config --libs ipcq"
read -ra pc_libs <<<"$s"
run "pkg-config build: cc consumer.c \$(pkg-config --cflags --libs ipcq)" \
    "$cc" "${warn[@]}" "${san_flags[@]}" "${pc_cflags[@]}" -o "$scratch/out/consumer_pc" \
    "$here/consumer.c" "${pc_libs[@]}"

# (2) pkg-config --static, against libipcq.a. -lipcq would pick libipcq.so
# from the same directory, so it is replaced by the archive's path; the rest
# (libzmq, protobuf-c and what they need) is linked as pkg-config says.
s=$(pkg-config --static --libs ipcq) || fail "pkg-config --static --libs ipcq"
read -ra pc_static <<<"$s"
static_libs=()
for t in "${pc_static[@]}"; do
    case $t in
        -lipcq) static_libs+=("$libdir/libipcq.a") ;;
        # Some .pc files (Debian's norm.pc, which libzmq requires) name an
        # archive without a directory ("libprotokit.a"); let the linker's
        # search path find it, as it would with -l.
        lib*.a) [[ -e $t ]] && static_libs+=("$t") || static_libs+=("-l:$t") ;;
        *) static_libs+=("$t") ;;
    esac
done
run "static build: cc consumer.c \$(pkg-config --cflags ipcq) libipcq.a \$(pkg-config --static --libs ipcq)" \
    "$cc" "${warn[@]}" "${san_flags[@]}" "${pc_cflags[@]}" -o "$scratch/out/consumer_pc_static" \
    "$here/consumer.c" "${static_libs[@]}"

# (3) find_package(ipcq): ipcq::ipcq and ipcq::ipcq_static.
run "find_package(ipcq) configure" \
    cmake -S "$here" -B "$scratch/cmake-build" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_C_FLAGS="${warn[*]}" -DCONSUMER_SANITIZE="$sanitize" -DCMAKE_BUILD_TYPE=Release
ipcq_dir=$(sed -n 's/^ipcq_DIR:[A-Z]*=//p' "$scratch/cmake-build/CMakeCache.txt")
[[ $ipcq_dir == "$libdir/cmake/ipcq" ]] ||
    fail "find_package(ipcq) found $libdir/cmake/ipcq (got '$ipcq_dir')"
pass "find_package(ipcq) found the installed package"
run "find_package(ipcq) build of ipcq::ipcq and ipcq::ipcq_static" \
    cmake --build "$scratch/cmake-build"
cp "$scratch/cmake-build/consumer" "$scratch/out/consumer_cmake"
cp "$scratch/cmake-build/consumer_static" "$scratch/out/consumer_cmake_static"

shared=(consumer_pc consumer_cmake)
static=(consumer_pc_static consumer_cmake_static)

# The shared builds load $soname from the prefix, never from the build
# tree; the static builds do not need it at all.
real_lib=$(readlink -f "$libdir/$soname")
for b in "${shared[@]}"; do
    exe="$scratch/out/$b"
    dyn=$(readelf -d "$exe")
    [[ $dyn == *"(NEEDED)"*"[$soname]"* ]] || fail "$b needs $soname"
    names_build "$dyn" && fail "$b has no RPATH into the build tree"
    resolved=$(LD_LIBRARY_PATH="$libdir" ldd "$exe" | awk -v so="$soname" '$1 == so {print $3}')
    [[ -n $resolved && $(readlink -f "$resolved") == "$real_lib" ]] ||
        fail "$b resolves $soname to $libdir (got '${resolved:-nothing}')"
    pass "$b loads $resolved"
done
for b in "${static[@]}"; do
    exe="$scratch/out/$b"
    dyn=$(readelf -d "$exe")
    [[ $dyn == *"[libipcq"* ]] && fail "$b does not need libipcq.so"
    syms=$(nm "$exe")
    [[ $syms == *" T ipcq_put"$'\n'* ]] || fail "$b has ipcq_put linked in"
    pass "$b has libipcq.a linked in"
done

# --- against the installed broker ---------------------------------------------------

# An ipc:// path must fit in sun_path (108 bytes); a deep build tree gets a
# short directory under /tmp for its socket instead.
if (( ${#scratch} + 8 < 100 )); then
    sock_dir=$scratch
else
    sock_dir=$(mktemp -d /tmp/ipcq-install-XXXXXX)
fi
endpoint="ipc://$sock_dir/b.sock"

"$prefix/bin/ipcqd" --bind "$endpoint" --log-level warn >"$scratch/ipcqd.log" 2>&1 &
broker_pid=$!

# Wait for it to answer, with a deadline; fail at once if it exits.
deadline=$((SECONDS + 20))
until [[ -S $sock_dir/b.sock ]] &&
    LD_LIBRARY_PATH="$libdir" timeout 10 "$scratch/out/consumer_pc" "$endpoint" --ping 2>/dev/null; do
    if ! kill -0 "$broker_pid" 2>/dev/null; then
        status=0
        wait "$broker_pid" || status=$?
        broker_pid=
        cat "$scratch/ipcqd.log" >&2
        fail "installed ipcqd exited during start-up (status $status)"
    fi
    ((SECONDS < deadline)) || { cat "$scratch/ipcqd.log" >&2; fail "installed ipcqd answers within 20 s"; }
    sleep 0.05
done
pass "installed ipcqd answers on $endpoint"

for b in "${shared[@]}"; do
    run "$b against the broker" env LD_LIBRARY_PATH="$libdir" timeout 60 "$scratch/out/$b" "$endpoint"
    grep -qx "OK [0-9]*\.[0-9]*\.[0-9]*" "$scratch/log.$((passed - 1))" || fail "$b printed OK"
done
for b in "${static[@]}"; do
    run "$b against the broker" env -u LD_LIBRARY_PATH timeout 60 "$scratch/out/$b" "$endpoint"
    grep -qx "OK [0-9]*\.[0-9]*\.[0-9]*" "$scratch/log.$((passed - 1))" || fail "$b printed OK"
done

if [[ -x $prefix/bin/ipcq ]]; then
    run "installed ipcq ping" env LD_LIBRARY_PATH="$libdir" IPCQ_BROKER="$endpoint" \
        timeout 60 "$prefix/bin/ipcq" ping
fi

# ipcq as a parent project's subdirectory, on a machine without cmocka (a
# pkg-config that sees only libzmq and protobuf-c): it configures, with its
# tests off by default, and gives the parent ipcq::ipcq.
nocmocka="$scratch/pc-without-cmocka"
mkdir -p "$nocmocka" "$scratch/parent"
for m in libzmq libprotobuf-c; do
    cp "$(pkg-config --variable=pcfiledir "$m")/$m.pc" "$nocmocka/"
done
cat >"$scratch/parent/CMakeLists.txt" <<PARENT
cmake_minimum_required(VERSION 3.20)
project(parent C)
add_subdirectory("$src" ipcq)
add_executable(app app.c)
target_link_libraries(app PRIVATE ipcq::ipcq)
PARENT
echo 'int main(void) { return 0; }' >"$scratch/parent/app.c"
run "add_subdirectory(ipcq) configures without cmocka" \
    env PKG_CONFIG_LIBDIR="$nocmocka" cmake -S "$scratch/parent" -B "$scratch/parent/build"
grep -qx 'IPCQ_BUILD_TESTS:BOOL=OFF' "$scratch/parent/build/CMakeCache.txt" ||
    fail "tests are off by default under a parent project"
pass "tests are off by default under a parent project"

status=0
stop_broker || status=$?
if ((status != 0)); then
    cat "$scratch/ipcqd.log" >&2
    fail "installed ipcqd exits 0 on SIGTERM (status $status)"
fi
pass "installed ipcqd stopped by SIGTERM, exit 0"

ok=1
