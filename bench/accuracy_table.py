"""The results table from run folders: one CSV row per finished run, and mean ± std over seeds as Markdown.

    python bench/accuracy_table.py results/runs --csv results/accuracy.csv

Reads every run folder (summary.json, config.yaml, Hydra's .hydra/) under the given paths through
``vkan.analysis``; the CSV is rewritten from those folders, never edited by hand.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from vkan import analysis


def markdown(summary: pd.DataFrame) -> str:
    lines = ["| dataset | experiment | model | test acc (mean ± std) | best holdout acc | seeds | params | img/s | "
             "wall (s) | epochs | commit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        std = "" if pd.isna(r.test_std) else f" ± {100 * r.test_std:.2f}"
        holdout = "" if pd.isna(r.holdout_mean) else f"{100 * r.holdout_mean:.2f}%"
        lines.append(f"| {r.dataset} | {r.experiment} | {r.model} | {100 * r.test_mean:.2f}%{std} | {holdout} | "
                     f"{r.seeds} | {r.params / 1e6:.2f} M | {r.img_per_s:,.0f} | {r.wall_s:.0f} | {r.epochs:g} | "
                     f"{' '.join(c[:7] for c in str(r.commit).split())} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="run folders, sweep folders or trees of them")
    parser.add_argument("--csv", type=Path, help="write one row per finished run here")
    args = parser.parse_args()
    runs = pd.concat([analysis.load_runs(p) for p in args.paths], ignore_index=True)
    rows = analysis.accuracy_rows(runs)
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(args.csv, index=False)
        print(f"{len(rows)} runs -> {args.csv}")
    print(markdown(analysis.accuracy_summary(rows)))


if __name__ == "__main__":
    main()
