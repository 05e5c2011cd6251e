"""The training app's own img/s, run by run: whole ``train.py`` runs of several configurations in interleaved rounds
(issue 20: the app's speed, KAN against its MLP twin, from real runs with their data and augmentation).

    python bench/app_speed.py --vary model=vit_kan,vit --vary trainer.graph_ffn=false,auto --rounds 2 \\
        -- data=mnist trainer.compile=false trainer.epochs=3
    python bench/app_speed.py --vary model=vit_kan,vit --rounds 2 --out /tmp/speed --json speed.json \\
        -- experiment=cifar10 trainer.epochs=3 trainer.score_test=false

Every combination of the ``--vary`` values is one configuration; each round runs every configuration once, one run
at a time, starting with the next configuration each round (so every one sees the same host conditions in turn). A
run's img/s is its ``summary.json``'s ``img_per_s``: the mean of its epochs after the first (the first includes
compilation, capture and warm-up), so a run needs two epochs or more. Its peak memory is the largest of its
epochs' ``peak_mem_gib`` (``metrics.csv``, allocated memory; empty on a CPU) plus, with ``trainer.graph_ffn``, what
the capture reserved (``summary.json``'s ``graph_gib``). The trailing overrides are common to every run
(``logger=none`` and ``trainer.progress_bar=false`` are added). With ``model`` among the varied keys, ``vs_twin`` is
a KAN configuration's img/s over the MLP twin's (``model=vit``) with the other values the same: the median of the
per-round ratios, beside each round's. Runs go into ``--out`` (a temporary folder by default), one per
configuration and round, each with its console output beside it (``<folder>.log``).
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
TWIN = ("model", "vit")  # the varied value that is the MLP twin of every other model value
ADDED = ["logger=none", "trainer.progress_bar=false"]


def configurations(vary: List[str]) -> List[Tuple[Tuple[str, str], ...]]:
    """Every combination of the ``KEY=V1,V2`` values, as ((key, value), ...) in the order given."""
    axes = []
    for item in vary:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise SystemExit(f"--vary {item!r}: give KEY=VALUE1,VALUE2 (e.g. --vary model=vit_kan,vit)")
        axes.append([(key, value) for value in values.split(",")])
    return list(itertools.product(*axes))


def label(config: Tuple[Tuple[str, str], ...]) -> str:
    return " ".join(f"{key}={value}" for key, value in config)


def run_once(config, common: List[str], run_dir: Path) -> dict:
    """One ``train.py`` run of ``config`` into ``run_dir``; its summary.json with the peak memory of its epochs."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    console = run_dir.parent / f"{run_dir.name}.log"  # beside the folder, which a run stopped at set-up removes
    command = [sys.executable, str(REPO / "train.py"), *common, *ADDED, *[f"{k}={v}" for k, v in config],
               f"hydra.run.dir={run_dir}"]
    with open(console, "w") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO).returncode
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    if code or summary.get("status") != "finished":
        tail = "\n".join(console.read_text().splitlines()[-15:])
        raise SystemExit(f"{label(config)}: train.py exited {code} (status {summary.get('status')!r}); the end of "
                         f"{console}:\n{tail}")
    if summary.get("epochs_done", 0) < 2:
        raise SystemExit(f"{label(config)}: one epoch only; img/s needs a second one (trainer.epochs >= 2)")
    with open(run_dir / "metrics.csv") as f:
        peaks = [float(row["peak_mem_gib"]) for row in csv.DictReader(f) if row.get("peak_mem_gib")]
    peak = max(peaks) + summary.get("graph_gib", 0.0) if peaks else None  # with what sublayer graphs reserved
    return {**summary, "peak_mem_gib": peak}


def twin_of(config) -> Optional[tuple]:
    """The configuration that is ``config``'s MLP twin, or None (the twin itself, or no model varied)."""
    keys = dict(config)
    if TWIN[0] not in keys or keys[TWIN[0]] == TWIN[1]:
        return None
    return tuple((k, TWIN[1] if k == TWIN[0] else v) for k, v in config)


def measure(configs, common: List[str], rounds: int, out: Path) -> List[dict]:
    """Every configuration once a round, each round starting with the next one; a row per configuration."""
    runs: Dict[tuple, List[dict]] = {c: [] for c in configs}
    for r in range(rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        for config in order:
            name = "_".join(v for _, v in config).replace("/", "-")
            summary = run_once(config, common, out / f"r{r}_{name}")
            runs[config].append(summary)
            print(f"# round {r}: {label(config)}: {summary['img_per_s']:.0f} img/s ({summary.get('path')})",
                  flush=True)
    rows = []
    for config in configs:
        rates = [s["img_per_s"] for s in runs[config]]
        row = {"config": label(config), "img_per_s": statistics.median(rates), "rounds": rates,
               "path": runs[config][0].get("path"), "final_val_acc": [s.get("final_val_acc") for s in runs[config]],
               "peak_mem_gib": max((s["peak_mem_gib"] for s in runs[config] if s["peak_mem_gib"] is not None),
                                   default=None)}
        twin = twin_of(config)
        if twin in runs:
            ratios = [a / b["img_per_s"] for a, b in zip(rates, runs[twin])]
            row.update(vs_twin=statistics.median(ratios), vs_twin_rounds=ratios)
        rows.append(row)
    return rows


def print_rows(rows: List[dict]) -> None:
    print("| configuration | img/s (median) | rounds | vs_twin (rounds) | final val acc | peak GiB | path |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        twin = (f"{row['vs_twin']:.3f} ({', '.join(f'{x:.3f}' for x in row['vs_twin_rounds'])})"
                if "vs_twin" in row else "")
        accs = ", ".join("" if a is None else f"{a:.4f}" for a in row["final_val_acc"])
        peak = "" if row["peak_mem_gib"] is None else f"{row['peak_mem_gib']:.2f}"
        print(f"| {row['config']} | {row['img_per_s']:.0f} | {', '.join(f'{x:.0f}' for x in row['rounds'])} | "
              f"{twin} | {accs} | {peak} | {row['path']} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("common", nargs="*", help="overrides for every run, as for train.py (after --)")
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                        help="a key and its values (repeat for more keys; every combination runs)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary folder, removed after)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    if not args.vary:
        parser.error("give at least one --vary KEY=V1,V2 (e.g. --vary model=vit_kan,vit)")
    configs = configurations(args.vary)
    with tempfile.TemporaryDirectory() as scratch:
        rows = measure(configs, args.common, args.rounds, args.out or Path(scratch))
    print(f"# train.py {' '.join(args.common)}; {args.rounds} interleaved rounds")
    print_rows(rows)
    if args.json:
        args.json.write_text(json.dumps({"common": args.common, "rounds": args.rounds, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
