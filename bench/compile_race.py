"""Do runs of one model graph, compiled side by side, score another model? Start N runs of the same graph (other
seeds) at once, then resume them all at once, round after round, and count the compiled-path checks that failed.

    python bench/compile_race.py --root /tmp/race --procs 6 --rounds 3
    python bench/compile_race.py --root /tmp/race_private --procs 6 --rounds 3 --private-caches
    python bench/compile_race.py --root /tmp/race_mlp --procs 6 --rounds 3 --model vit
    python bench/compile_race.py --root /tmp/race_nographs --procs 6 --rounds 3 --set trainer.compile_mode=default

Why: the check (README, Resume) caught compiled graphs scoring another model in resumed runs, each time with other
processes compiling the same graph at the same moment (bench/RESULTS.md, seventeenth session). Each run here is
``python train.py model=vit_kan data=synthetic`` (``--model`` picks another model config) with
``trainer.max_epochs_this_run=1`` and ``logger=none`` (``--set`` adds overrides): round 1 starts the runs, every
later round resumes them all (``resume=``, one more epoch each), so each round compiles in new processes, side by
side, from the caches the rounds before filled. The runs share one Inductor and one Triton cache folder under ROOT
(``TORCHINDUCTOR_CACHE_DIR``, ``TRITON_CACHE_DIR``; cold at round 1); ``--private-caches`` gives every run its own
instead, so no two processes share a compiled artifact. The table gives, per round, each run's first check (logit
gap; over 3% is a failure, after which the run trains the epoch again on graphs compiled afresh: its retry's gap is
shown in brackets), read from the round's console log ``ROOT/run<i>.round<r>.log``. Exits 1 when a run failed (a
retry's check failing too is one way), 0 otherwise. A retry compiles without the on-disk caches and trains the epoch
again: 79-95 s on an H200 for a round-3 retry (the other runs had ended by then): leave ``--timeout`` well above a
round's length, or it cuts the retries short.

First runs (eighteenth session, bench/RESULTS.md): checks over the limit with shared caches and with private ones
alike (2 of 16 and 2 of 18), so the shared caches are not what it takes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
CHECK = re.compile(r"compiled path checked: accuracy ([\d.]+) on the validation split, ([\d.]+) outside "
                   r"torch\.compile; logits ([\d.]+|nan|inf)% apart")
BATCHES = re.compile(r"compiled path: batches over the limit: (\d+) of (\d+)")  # vkan.compiled_check.check_compiled_scores
AGAIN = re.compile(r"compiled path, the same graphs again: logits ([\d.]+|nan|inf)% apart, batches over the limit: "
                   r"(\d+) of (\d+)")
RETRIED = "is trained again from its start on graphs compiled afresh"  # vkan.train.compile_afresh's warning
sys.path.insert(0, str(REPO))
from vkan.compiled_check import COMPILED_LOGIT_GAP  # noqa: E402 - the checkout's vkan, as the runs use it

LIMIT = 100 * COMPILED_LOGIT_GAP  # percent, as the log lines give the gap
SKIPS_THE_CHECK = ("trainer.limit_val_batches", "trainer.eval_every", "trainer.compile", "debug")


def checks_in(console_log: Path) -> dict:
    """The compiled-path checks one invocation's console log records: {"gaps": [first, retry...] in percent,
    "batches_over": ["k/n", ...] of each failed check (k of its n validation batches over the limit), "again": the
    same graphs' second pass after each failed check, {"gap", "batches_over"}, "retried": whether the first failed
    and the epoch was trained again}."""
    text = console_log.read_text() if console_log.is_file() else ""
    return {"gaps": [float(m[3]) for m in CHECK.finditer(text)],
            "batches_over": [f"{m[1]}/{m[2]}" for m in BATCHES.finditer(text)],
            "again": [{"gap": float(m[1]), "batches_over": f"{m[2]}/{m[3]}"} for m in AGAIN.finditer(text)],
            "retried": RETRIED in text}


def command(run_dir: Path, seed: int, rounds: int, round_: int, extra: List[str]) -> List[str]:
    """round 1: a new run in ``run_dir`` (``extra``: its model and other overrides); later rounds: its resume
    (Hydra's files of the resume in a subfolder)."""
    if round_ == 1:
        return [sys.executable, str(REPO / "train.py"), "data=synthetic", f"seed={seed}",
                f"trainer.epochs={rounds}", "trainer.max_epochs_this_run=1", "logger=none",
                "trainer.progress_bar=false", f"hydra.run.dir={run_dir}", *extra]
    return [sys.executable, str(REPO / "train.py"), f"resume={run_dir}", f"hydra.run.dir={run_dir}/.resume-{round_}"]


def run_round(root: Path, procs: int, rounds: int, round_: int, private: bool, extra: List[str],
              timeout_s: float) -> Dict[str, int]:
    """Start every run's invocation of this round at once and wait for all (killing any still running after
    ``timeout_s``); {run: exit code}."""
    started = {}
    for i in range(procs):
        run_dir = root / f"run{i}"
        caches = run_dir / ".caches" if private else root / ".caches"
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(caches / "inductor"),
               "TRITON_CACHE_DIR": str(caches / "triton")}
        log = open(root / f"run{i}.round{round_}.log", "w")
        argv = command(run_dir, i, rounds, round_, extra)
        started[run_dir.name] = (subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    codes, deadline = {}, time.monotonic() + timeout_s
    for name, (proc, log) in started.items():
        try:
            codes[name] = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes[name] = proc.wait()
        log.close()
    return codes


def report(root: Path, procs: int, rounds: int, codes: Dict[int, Dict[str, int]]) -> dict:
    """Per round and run: exit code and checks; per round: how many first checks there were and how many failed."""
    rows = []
    for r in range(1, rounds + 1):
        runs = {f"run{i}": {"exit_code": codes[r].get(f"run{i}"), **checks_in(root / f"run{i}.round{r}.log")}
                for i in range(procs)}
        firsts = [run["gaps"][0] for run in runs.values() if run["gaps"]]
        failed = sum(1 for run in runs.values() if run["retried"] or (run["gaps"] and not run["gaps"][0] <= LIMIT))
        rows.append({"round": r, "checks": len(firsts), "over_limit": failed, "runs": runs})
    return {"procs": procs, "rounds": rows}


def cell(run: dict) -> str:
    """One run's checks in a round: "434.09 (3/20; again 1.20, 0/20) [2.06]": the first check, its batches over the
    limit, the same graphs' second pass, the retry."""
    if not run["gaps"]:
        return "-"
    notes = run["batches_over"][:1] + [f"again {a['gap']:.2f}, {a['batches_over']}" for a in run["again"][:1]]
    first = f"{run['gaps'][0]:.2f}" + (f" ({'; '.join(notes)})" if notes else "")
    return " ".join([first] + [f"[{g:.2f}]" for g in run["gaps"][1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="an empty or new folder for the runs")
    parser.add_argument("--procs", type=int, default=6, help="runs side by side")
    parser.add_argument("--rounds", type=int, default=3, help="invocations of every run: a start, then resumes")
    parser.add_argument("--private-caches", action="store_true", help="a cache folder of its own for every run")
    parser.add_argument("--model", default="vit_kan", help="the model config of every run: vit_kan, or vit (the MLP "
                        "twin) to see whether runs without KAN layers fail too")
    parser.add_argument("--set", nargs="+", default=[], help="overrides added to every run's start")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds a round may take before its runs are killed")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    if args.procs < 1 or args.rounds < 1:
        parser.error("--procs and --rounds take 1 or more")
    skipping = [o for o in args.set if o.split("=")[0].lstrip("+~") in SKIPS_THE_CHECK]
    if skipping:
        parser.error(f"--set {' '.join(skipping)}: that would leave the compiled path unchecked, which is what this "
                     f"counts")
    args.root = args.root.resolve()  # the runs start in the checkout
    if args.root.exists() and any(args.root.iterdir()):
        parser.error(f"--root {args.root} is not empty: give a new folder (each round resumes the runs in it)")
    args.root.mkdir(parents=True, exist_ok=True)
    codes = {}
    for r in range(1, args.rounds + 1):
        codes[r] = run_round(args.root, args.procs, args.rounds, r, args.private_caches,
                             [f"model={args.model}", *args.set], args.timeout)
        print(f"round {r}: exit codes {[codes[r][name] for name in sorted(codes[r])]}", flush=True)
    table = report(args.root, args.procs, args.rounds, codes)
    print(f"{'round':>5s} {'checks':>6s} {'failed':>6s}  each run's first check: logit gap (%) (validation batches "
          f"over the limit; the same graphs again) [retry]")
    for row in table["rounds"]:
        cells = [cell(run) for run in row["runs"].values()]
        note = "" if row["checks"] == args.procs else \
            f"  ({args.procs - row['checks']} run(s) logged no check: not compiled (a CPU?), or stopped before it)"
        print(f"{row['round']:5d} {row['checks']:6d} {row['over_limit']:6d}  {' | '.join(cells)}{note}")
    if args.json:
        args.json.write_text(json.dumps({**table, "model": args.model, "private_caches": args.private_caches,
                                            "set": args.set}, indent=1))
    sys.exit(1 if any(code for round_codes in codes.values() for code in round_codes.values()) else 0)


if __name__ == "__main__":
    main()
