"""Where a run's wall clock went, from its folder: set-up and first epoch, the steady epochs' training and the time
between their log lines, and the last epoch's extra (the test scoring), per invocation.

    python bench/epoch_times.py results/runs/2026-12-01/cifar10_300_w80/auto300-kan-s2 --window 231 299

Reads the epoch lines of ``train.log`` (their timestamps) and ``epoch_s`` of ``metrics.csv`` (the epoch's
training); runs from e52a70d on also have ``eval_s`` (the epoch's scoring), which is then shown apart. An epoch's
"outside training" is the time between its line and the line before less its training: its scoring, and the
checkpoint, logs and checks of the epoch before. ``--window A B`` averages epochs A..B (default: every epoch of the
last invocation but its first and last), e.g. the epochs a run had the GPU to itself.
"""
from __future__ import annotations

import argparse
import csv
import re
import statistics
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple

LINE = re.compile(r"^\[(?P<time>[\d-]+ [\d:,]+)\]\[[^\]]*\]\[\w+\] - (?P<text>.*)$")
EPOCH = re.compile(r"^epoch\s+(\d+)/(\d+) ")


def invocations(train_log: Path) -> List[Dict[int, datetime]]:
    """{epoch: time of its log line} for each invocation of the run (a new one starts at each set-up line)."""
    runs: List[Dict[int, datetime]] = []
    if not train_log.is_file():
        raise SystemExit(f"{train_log} not found: give run folders (with train.log and metrics.csv)")
    for line in train_log.read_text().splitlines():
        m = LINE.match(line)
        if not m:
            continue
        when = datetime.strptime(m["time"], "%Y-%m-%d %H:%M:%S,%f")
        if " M parameters | " in m["text"] and "| run folder " in m["text"]:  # the first line of an invocation
            runs.append({0: when})  # epoch 0 stands for the invocation's first line
        elif runs and (e := EPOCH.match(m["text"])):
            runs[-1][int(e[1])] = when
    return runs


def metrics(run_dir: Path) -> Dict[int, Dict[str, str]]:
    """metrics.csv's rows by epoch (the last row of an epoch a resume trained again)."""
    if not (run_dir / "metrics.csv").is_file():
        raise SystemExit(f"{run_dir / 'metrics.csv'} not found: give run folders (with train.log and metrics.csv)")
    with open(run_dir / "metrics.csv", newline="") as f:
        return {int(r["epoch"]): r for r in csv.DictReader(f)}


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def report(run_dir: Path, window: Optional[Tuple[int, int]] = None) -> List[str]:
    """Markdown lines: each invocation's set-up-to-first-epoch time, then the window's means and the last epoch."""
    runs, rows = invocations(run_dir / "train.log"), metrics(run_dir)
    if not runs or not rows:
        raise SystemExit(f"{run_dir}: " + ("no first line of an invocation (model, parameters, run folder) in "
                                           "train.log" if not runs else "no rows in metrics.csv"))
    lines = ["| invocation | epochs | first line to first epoch line | of it the first epoch's training |",
             "|---|---|---|---|"]
    for i, times in enumerate(runs, 1):
        epochs = sorted(e for e in times if e)
        if epochs:
            first = epochs[0]
            lines.append(f"| {i} | {first}-{epochs[-1]} | {seconds(times[0], times[first]):.1f} s | "
                         f"{float(rows[first]['epoch_s']):.1f} s |")
    last_run = runs[-1]
    epochs = sorted(e for e in last_run if e)
    if window is None and len(epochs) < 3:
        return lines  # no steady epochs to average: the first of an invocation compiles, its last scores the test
    a, b = window or (epochs[1], epochs[-2])
    gaps, train, scoring = [], [], []
    for times in runs:
        for e in range(a, b + 1):
            if e in times and e - 1 in times and e - 1 > 0:
                gaps.append(seconds(times[e - 1], times[e]))
                train.append(float(rows[e]["epoch_s"]))
                if rows[e].get("eval_s"):
                    scoring.append(float(rows[e]["eval_s"]))
    if not gaps:
        raise SystemExit(f"{run_dir}: no two consecutive epoch lines within epochs {a}-{b} of one invocation")
    gap, trained = statistics.mean(gaps), statistics.mean(train)
    lines += ["", f"Epochs {a}-{b} ({len(gaps)}): log lines {gap:.3f} s apart, training {trained:.3f} s, "
                  f"outside training {gap - trained:.3f} s" +
              (f" (scoring {statistics.mean(scoring):.3f} s)" if scoring else "") + "."]
    end = epochs[-1]
    if end - 1 in last_run and end - 1 > 0:
        extra = seconds(last_run[end - 1], last_run[end]) - float(rows[end]["epoch_s"]) - (gap - trained)
        lines.append(f"Epoch {end}, the invocation's last: {extra:.1f} s more outside training than those" +
                     (f" (scoring {float(rows[end]['eval_s']):.1f} s)" if rows[end].get("eval_s") else "") + ".")
    return lines


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--window", nargs=2, type=int, metavar=("A", "B"), help="epochs to average (inclusive)")
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        print(f"## {run_dir}\n")
        print("\n".join(report(run_dir, tuple(args.window) if args.window else None)) + "\n")


if __name__ == "__main__":
    main()
