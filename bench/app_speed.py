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
the capture holds beyond its live tensors (``summary.json``'s ``graph_gib``). The trailing overrides are common to every run
(``logger=none`` and ``trainer.progress_bar=false`` are added). With ``model`` among the varied keys, ``vs_twin`` is
a KAN configuration's img/s over the MLP twin's (``model=vit``) with the other values the same: the median of the
per-round ratios, beside each round's; a row's path lists every label its runs gave (``summary.json``'s ``path``),
so a graphed configuration whose capture fell back to plain in one round shows both. Runs go into ``--out`` (a
temporary folder by default, kept if the benchmark stops early), one per configuration and round, each with its
console output beside it (``<folder>.log``). A failed run, or ``--minutes`` passing, stops the benchmark; the table
then has the rounds every configuration finished.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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


class RunFailed(Exception):
    """A run that did not finish with two epochs or more; the message says where its console output is."""


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
        raise RunFailed(f"{label(config)}: train.py exited {code} (status {summary.get('status')!r}); the end of "
                        f"{console}:\n{tail}")
    if summary.get("epochs_done", 0) < 2:
        raise RunFailed(f"{label(config)}: one epoch only; img/s needs a second one (trainer.epochs >= 2)")
    with open(run_dir / "metrics.csv") as f:
        peaks = [float(row["peak_mem_gib"]) for row in csv.DictReader(f) if row.get("peak_mem_gib")]
    peak = max(peaks) + summary.get("graph_gib", 0.0) if peaks else None  # with what sublayer graphs hold besides
    return {**summary, "peak_mem_gib": peak}


def twin_of(config) -> Optional[tuple]:
    """The configuration that is ``config``'s MLP twin, or None (the twin itself, or no model varied)."""
    keys = dict(config)
    if TWIN[0] not in keys or keys[TWIN[0]] == TWIN[1]:
        return None
    return tuple((k, TWIN[1] if k == TWIN[0] else v) for k, v in config)


def measure(configs, common: List[str], rounds: int, out: Path,
            minutes: Optional[float] = None) -> Tuple[List[dict], int, Optional[str]]:
    """Every configuration once a round, each round starting with the next one. Stops at a run that fails, or
    before one that would start ``minutes`` after the first. Returns a row per configuration over the rounds that
    every configuration finished, their number, and what stopped it early (None)."""
    runs: Dict[tuple, List[dict]] = {c: [] for c in configs}
    started, stopped = time.monotonic(), None
    for r in range(rounds):
        for config in configs[r % len(configs):] + configs[:r % len(configs)]:
            if minutes is not None and time.monotonic() - started > 60 * minutes:
                stopped = f"--minutes {minutes:g} had passed before round {r}'s run of {label(config)}"
                break
            name = f"r{r}_c{configs.index(config)}_" + "_".join(v for _, v in config).replace("/", "-")
            try:
                summary = run_once(config, common, out / name)
            except RunFailed as err:
                stopped = str(err)
                break
            runs[config].append(summary)
            print(f"# round {r}: {label(config)}: {summary['img_per_s']:.0f} img/s ({summary.get('path')})",
                  flush=True)
        if stopped:
            break
    done = min(len(finished) for finished in runs.values())
    return [row(config, runs[config][:done], runs.get(twin_of(config), [])[:done]) for config in configs], done, \
        stopped


def row(config, summaries: List[dict], twins: List[dict]) -> dict:
    """A configuration's row from its runs' summaries (and its MLP twin's, round by round, if any)."""
    rates = [s["img_per_s"] for s in summaries]
    peaks = [s["peak_mem_gib"] for s in summaries if s["peak_mem_gib"] is not None]
    out = {"config": label(config), "img_per_s": statistics.median(rates) if rates else None, "rounds": rates,
           "path": " / ".join(sorted({str(s.get("path")) for s in summaries})),  # more than one: they differed
           "final_val_acc": [s.get("final_val_acc") for s in summaries], "peak_mem_gib": max(peaks, default=None)}
    if twins and rates:
        ratios = [a / b["img_per_s"] for a, b in zip(rates, twins, strict=True)]  # round by round
        out.update(vs_twin=statistics.median(ratios), vs_twin_rounds=ratios)
    return out


def print_rows(rows: List[dict]) -> None:
    print("| configuration | img/s (median) | rounds | vs_twin (rounds) | final val acc | peak GiB | path |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["img_per_s"] is None:
            continue
        twin = f"{r['vs_twin']:.3f} ({', '.join(f'{x:.3f}' for x in r['vs_twin_rounds'])})" if "vs_twin" in r else ""
        accs = ", ".join("" if a is None else f"{a:.4f}" for a in r["final_val_acc"])
        peak = "" if r["peak_mem_gib"] is None else f"{r['peak_mem_gib']:.2f}"
        print(f"| {r['config']} | {r['img_per_s']:.0f} | {', '.join(f'{x:.0f}' for x in r['rounds'])} | {twin} | "
              f"{accs} | {peak} | {r['path']} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("common", nargs="*", help="overrides for every run, as for train.py (after --)")
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                        help="a key and its values (repeat for more keys; every combination runs)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary folder, removed after "
                                                    "a benchmark that finished)")
    parser.add_argument("--minutes", type=float, help="start no run after this many minutes; the table then has the "
                                                      "rounds every configuration finished")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    if not args.vary:
        parser.error("give at least one --vary KEY=V1,V2 (e.g. --vary model=vit_kan,vit)")
    configs = configurations(args.vary)
    out = args.out or Path(tempfile.mkdtemp(prefix="app_speed-"))
    rows, done, stopped = measure(configs, args.common, args.rounds, out, args.minutes)
    print(f"# train.py {' '.join(args.common)}; {done} of {args.rounds} interleaved rounds")
    print_rows(rows)
    if args.json:
        args.json.write_text(json.dumps({"common": args.common, "rounds": done, "stopped": stopped, "rows": rows},
                                        indent=1))
    if stopped:
        raise SystemExit(f"stopped early: {stopped}\nThe table has the {done} round(s) every configuration finished; "
                         f"the runs are in {out}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
