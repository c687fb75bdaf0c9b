#!/usr/bin/env bash
# The man pages' test (ctest test_man): the pages scdoc made in MAN_DIR
#
#   (1) render with man -l at 80 columns without a warning of man or groff
#       (--warnings=w: all of groff's), with no line wider than 80 and no
#       roff left over, and have their sections;
#   (2) hold every flag that each program's --help prints, and each
#       subcommand's (ipcq COMMAND --help) and mode's (ipcq-pool MODE
#       --help), as an entry (a line of its own that starts with the flag,
#       outside EXAMPLES), and every command and mode the top --help lists;
#       and every --help ends with the line "See PAGE(S) (man PAGE).";
#   (3) ipcq(3) names every function ipcq.h declares, every environment
#       variable it defines, and has every ipcq_status code, with its value,
#       in the STATUS CODES table.
#
#   check_man.sh MAN_DIR IPCQD IPCQ IPCQ_POOL IPCQ_BENCH IPCQ_H
#
# Every finding is one line: "ipcq(1) lacks --foo (printed by 'ipcq put
# --help')". Exits 0 if there is none, 1 if there is, and 77 (skipped) when
# the pages were not built (no scdoc at configure time) unless $CI is set.
set -uo pipefail

if [[ $# -ne 6 ]]; then
    echo "usage: $0 MAN_DIR IPCQD IPCQ IPCQ_POOL IPCQ_BENCH IPCQ_H" >&2
    exit 2
fi
man_dir=$1
declare -A prog=([ipcqd]=$2 [ipcq]=$3 [ipcq-pool]=$4 [ipcq-bench]=$5)
header=$6
pages=(ipcqd.8 ipcq.1 ipcq-pool.1 ipcq-bench.1 ipcq.3)

# Plain ASCII from man, whatever the caller's locale and man settings.
export LC_ALL=C MANOPT='' MANPAGER=cat PAGER=cat
unset MANROFFSEQ MANROFFOPT MANSECT

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
findings=0
lack() {
    echo "FAIL $*" >&2
    findings=$((findings + 1))
}

missing=()
for p in "${pages[@]}"; do
    [[ -s $man_dir/$p ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "man pages not built in $man_dir: ${missing[*]} (scdoc missing at configure time?)" >&2
    [[ -n ${CI:-} ]] && exit 1
    exit 77
fi

# "ipcq.1" -> "ipcq(1)"
title() { echo "${1%.*}(${1##*.})"; }

# --- (1) rendering -------------------------------------------------------------

for p in "${pages[@]}"; do
    t=$(title "$p")
    if ! MANWIDTH=80 man --warnings=w -l "$man_dir/$p" >"$tmp/$p.txt" 2>"$tmp/$p.err"; then
        lack "$t: man -l exits non-zero"
    fi
    if [[ -s $tmp/$p.err ]]; then
        sed "s/^/  /" "$tmp/$p.err" >&2
        lack "$t: man --warnings -l warns (above)"
    fi
    awk -v t="$t" 'length > 80 {print "  " NR ": " $0; bad = 1} END {exit bad}' "$tmp/$p.txt" >&2 ||
        lack "$t: lines wider than 80 columns (above)"
    grep -nE '^\.[A-Za-z]|T\{|T\}|\\f' "$tmp/$p.txt" | sed 's/^/  /' >&2 &&
        lack "$t: roff left over in the rendered page (above)"
    [[ $(head -n 1 "$tmp/$p.txt") == "$t "* ]] || lack "$t: its header does not name $t"
    want=(NAME SYNOPSIS DESCRIPTION ENVIRONMENT "SEE ALSO")
    [[ $p == *.[18] ]] && want+=(OPTIONS "EXIT STATUS" EXAMPLES)
    [[ $p == ipcq.1 ]] && want+=(COMMANDS FILES)
    [[ $p == ipcq.3 ]] && want+=(FUNCTIONS "STATUS CODES")
    for s in "${want[@]}"; do
        grep -qx "$s" "$tmp/$p.txt" || lack "$t: no $s section"
    done
    # Wide, for the look-ups below: a flag is never broken across lines.
    MANWIDTH=1000 man -l "$man_dir/$p" 2>/dev/null >"$tmp/$p.wide"
    # The entries: lines outside EXAMPLES that start with a flag or a word,
    # the flags of a term such as "--help, -h" one a line, and words.
    awk '/^[A-Z]/ {sect = $0; next} sect != "EXAMPLES" {print}' "$tmp/$p.wide" |
        sed -nE 's/^ +((--?[A-Za-z][A-Za-z0-9-]*)(, --?[A-Za-z][A-Za-z0-9-]*)*)([ =].*)?$/\1/p' |
        sed 's/, /\n/g' | sort -u >"$tmp/$p.flags"
    awk '/^[A-Z]/ {sect = $0; next} sect != "EXAMPLES" {print $1}' "$tmp/$p.wide" |
        sort -u >"$tmp/$p.words"
done

# --- (2) --help ----------------------------------------------------------------

# The flags a help text prints: --long and -x, not words such as Ctrl-C.
help_flags() {
    grep -oE '(^|[^A-Za-z0-9_$-])--?[A-Za-z][A-Za-z0-9-]*' "$1" | sed -E 's/^[^-]//' |
        grep -E '^(--[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]|-[A-Za-z])$' | sort -u
}

# check_help PAGE "COMMAND WORDS": runs them with --help, and checks the
# page against what it prints.
check_help() {
    local p=$1 words=$2 t out="$tmp/help"
    t=$(title "$p")
    local name=${p%.*}
    # shellcheck disable=SC2086 # the words are the command line
    if ! "${prog[$name]}" ${words#"$name"} --help >"$out" 2>"$tmp/help.err"; then
        cat "$tmp/help.err" >&2
        lack "'$words --help' exits non-zero"
        return
    fi
    local see="See $t (man $name)."
    [[ $(tail -n 1 "$out") == "$see" ]] ||
        lack "'$words --help' does not end with the line '$see'"
    # Each flag is an entry of the page; or, if the help refers to another
    # program's flag ("ipcqd with no --bind"), mentioned in the page and an
    # entry of that program's page.
    local f
    while read -r f; do
        grep -qxF -- "$f" "$tmp/$p.flags" && continue
        if grep -qE -- "(^|[^A-Za-z0-9-])$f([^A-Za-z0-9-]|\$)" "$tmp/$p.wide"; then
            local q elsewhere=0
            for q in "${pages[@]}"; do
                [[ $q != "$p" ]] && grep -qxF -- "$f" "$tmp/$q.flags" && elsewhere=1
            done
            ((elsewhere)) && continue
        fi
        lack "$t lacks $f (printed by '$words --help')"
    done < <(help_flags "$out")
    # $VARIABLES it names are named in the page too.
    while read -r f; do
        grep -qF -- "$f" "$tmp/$p.wide" ||
            lack "$t lacks \$$f (printed by '$words --help')"
    done < <(grep -oE '\$[A-Z_][A-Z0-9_]*' "$out" | tr -d '$' | sort -u)
}

# The words listed under HEADING ("Commands:") in a help text, at an indent
# of exactly two spaces.
listed() {
    awk -v h="$2" '$0 == h {on = 1; next} on && /^$/ {exit} on && /^  [a-z]/ {print $1}' "$1"
}

check_help ipcqd.8 ipcqd
check_help ipcq.1 ipcq
check_help ipcq-pool.1 ipcq-pool
check_help ipcq-bench.1 ipcq-bench

"${prog[ipcq]}" --help >"$tmp/ipcq.top"
"${prog[ipcq-pool]}" --help >"$tmp/pool.top"
for c in $(listed "$tmp/ipcq.top" "Commands:"); do
    grep -qxF -- "$c" "$tmp/ipcq.1.words" || lack "ipcq(1) lacks command $c (printed by 'ipcq --help')"
    check_help ipcq.1 "ipcq $c"
done
for m in $(listed "$tmp/pool.top" "Modes:"); do
    grep -qxF -- "$m" "$tmp/ipcq-pool.1.words" ||
        lack "ipcq-pool(1) lacks mode $m (printed by 'ipcq-pool --help')"
    check_help ipcq-pool.1 "ipcq-pool $m"
done
[[ -s $tmp/ipcq.top && -n $(listed "$tmp/ipcq.top" "Commands:") ]] ||
    lack "'ipcq --help' lists no commands under 'Commands:'"
[[ -n $(listed "$tmp/pool.top" "Modes:") ]] ||
    lack "'ipcq-pool --help' lists no modes under 'Modes:'"

# --- (3) ipcq(3) and ipcq.h ------------------------------------------------------

lib=$tmp/ipcq.3.wide
n=0
while read -r f; do
    n=$((n + 1))
    grep -qE "(^|[^A-Za-z0-9_])$f\(" "$lib" || lack "ipcq(3) lacks $f() (declared in ipcq.h)"
done < <(sed -n 's/^IPCQ_API[^(]*[ *]\(ipcq_[A-Za-z0-9_]*\)(.*/\1/p' "$header" | sort -u)
((n > 0)) || lack "no IPCQ_API function found in $header"

n=0
while read -r code value; do
    n=$((n + 1))
    grep -qE "\| *$code +\| +$value +\|" "$lib" ||
        lack "ipcq(3) lacks status $code = $value in STATUS CODES (declared in ipcq.h)"
done < <(awk '/^typedef enum ipcq_status/ {on = 1; next} on && /^}/ {exit}
              on && match($0, /IPCQ_[A-Z_]+ = [0-9]+/) {
                  split(substr($0, RSTART, RLENGTH), a, " = "); print a[1], a[2] }' "$header")
((n > 0)) || lack "no ipcq_status code found in $header"

while read -r v; do
    awk '/^[A-Z]/ {sect = $0; next} sect == "ENVIRONMENT"' "$lib" | grep -qF -- "$v" ||
        lack "ipcq(3) lacks $v in ENVIRONMENT (defined in ipcq.h)"
done < <(sed -nE 's/^#define IPCQ_[A-Z_]+_ENV "([A-Z_]+)".*/\1/p' "$header")

if ((findings)); then
    echo "man pages: $findings finding(s)" >&2
    exit 1
fi
echo "man pages: ${pages[*]} render cleanly and match --help and ipcq.h"
