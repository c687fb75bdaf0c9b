"""Draws compare's tables as bar charts (issue 15): each run's figure divided
by a baseline (ipcq strict), bars from 1× to the ratio on a log scale, so
what is faster than the baseline reaches right and what is slower left;
ipcq's own runs in one colour, its peers in another. gnuplot (Debian's
gnuplot-nox, which compare installs) writes the SVG.

    chart.draw(bars, baseline, path, title)

bars: (label, ratio, is_ipcq) in the order of the table, ratio None for a
run that failed (left out). Returns None, or why no chart was drawn.
"""

import math
import os
import shutil
import subprocess
import tempfile

IPCQ_COLOUR, PEER_COLOUR = "#1f6fb4", "#b0b0b0"


def _quoted(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def draw(bars, baseline, path, title):
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot is not installed (apt-get install gnuplot-nox)"
    drawn = [(label, ratio, mine) for label, ratio, mine in bars if ratio and ratio > 0]
    if not drawn:
        return "no figures to draw"
    low = min(min(r for _, r, _ in drawn), 1.0)
    high = max(max(r for _, r, _ in drawn), 1.0)
    # whole decades around the figures, with room for the value labels
    xmin = 10 ** math.floor(math.log10(low) - 0.05)
    xmax = 10 ** math.ceil(math.log10(high) + 0.3)
    height = 120 + 22 * len(drawn)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "bars.dat")
        with open(data, "w") as f:
            for i, (label, ratio, mine) in enumerate(drawn):
                shown = f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"
                f.write(f"{i} {ratio:.6g} {1 if mine else 2} {_quoted(label)} {_quoted(shown)}\n")
        script = f"""
set terminal svg size 1300,{height} dynamic enhanced font "sans,11" background "white"
set output {_quoted(os.path.abspath(path))}
set encoding utf8
set title {_quoted(title)} noenhanced
set logscale x 10
set xrange [{xmin:g}:{xmax:g}]
set yrange [{len(drawn) - 0.3}:-0.7]
set format x "%g×"
set xlabel {_quoted(f"÷ {baseline} (log scale; 1× = the same)")} noenhanced
set grid xtics
set ytics nomirror scale 0 noenhanced
set border 3
set style fill solid 0.85 noborder
set linetype 1 lc rgb "{IPCQ_COLOUR}"
set linetype 2 lc rgb "{PEER_COLOUR}"
set arrow from 1, graph 0 to 1, graph 1 nohead lc rgb "black" lw 1
set key off
plot {_quoted(data)} using (sqrt($2)):1:($2 < 1 ? $2 : 1):($2 < 1 ? 1 : $2):($1 - 0.35):($1 + 0.35):3:ytic(4) with boxxyerror lc variable, \\
     '' using ($2 < 1 ? 1 : $2):1:5 with labels left offset 0.6,0 noenhanced
"""
        run = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
        if run.returncode != 0:
            return "gnuplot failed: " + (run.stderr.strip().splitlines() or ["no message"])[-1]
    return None
