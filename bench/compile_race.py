"""Do runs of one model graph, compiled side by side, score another model? Start N runs of the same graph (other
seeds) at once, then resume them all at once, round after round, and count the compiled-path checks that failed.

    python bench/compile_race.py --root /tmp/race --procs 6 --rounds 3
    python bench/compile_race.py --root /tmp/race_private --procs 6 --rounds 3 --private-caches

Why: the check (README, Resume) caught compiled graphs scoring another model in a resumed run, and the failures
seen so far all had other processes compiling the same graph at the same moment, sharing torch.compile's caches on
disk (bench/RESULTS.md, seventeenth session). Each run here is ``python train.py model=vit_kan data=synthetic`` with
``trainer.max_epochs_this_run=1`` and ``logger=none`` (``--set`` adds overrides): round 1 starts the runs, every
later round resumes them all (``resume=``, one more epoch each), so each round compiles in new processes, side by
side, from the caches the rounds before filled. ``--private-caches`` gives every run its own Inductor and Triton
cache folders (``TORCHINDUCTOR_CACHE_DIR``, ``TRITON_CACHE_DIR`` in its run folder): no two processes share a
compiled artifact. The table gives, per round, each invocation's first check (logit gap; over 3% is a failure, after
which the run trains the epoch again on graphs compiled afresh) and the retries' checks.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
SET_UP = re.compile(r" M parameters \| .*\| run folder ")  # the first line of an invocation
CHECK = re.compile(r"compiled path checked: accuracy ([\d.]+) on the validation split, ([\d.]+) outside "
                   r"torch\.compile; logits ([\d.]+|nan|inf)% apart")
LIMIT = 3.0  # percent: vkan.train.COMPILED_LOGIT_GAP


def checks_per_invocation(train_log: Path) -> List[List[dict]]:
    """The compiled-path checks a run's train.log records, one list per invocation (set-up line to set-up line):
    each {"acc", "eager", "gap"} (gap in percent), the first the invocation's check, any second its retry's."""
    invocations: List[List[dict]] = []
    for line in train_log.read_text().splitlines() if train_log.is_file() else []:
        if SET_UP.search(line):
            invocations.append([])
        elif invocations and (m := CHECK.search(line)):
            invocations[-1].append({"acc": float(m[1]), "eager": float(m[2]), "gap": float(m[3])})
    return invocations


def command(run_dir: Path, seed: int, rounds: int, round_: int, extra: List[str]) -> List[str]:
    """round 1: a new run in ``run_dir``; later rounds: its resume (Hydra's files of the resume in a subfolder)."""
    if round_ == 1:
        return [sys.executable, str(REPO / "train.py"), "model=vit_kan", "data=synthetic", f"seed={seed}",
                f"trainer.epochs={rounds}", "trainer.max_epochs_this_run=1", "logger=none",
                "trainer.progress_bar=false", f"hydra.run.dir={run_dir}", *extra]
    return [sys.executable, str(REPO / "train.py"), f"resume={run_dir}", f"hydra.run.dir={run_dir}/.resume-{round_}"]


def run_round(root: Path, procs: int, rounds: int, round_: int, private: bool, extra: List[str]) -> Dict[str, int]:
    """Start every run's invocation of this round at once and wait for all; {run: exit code}."""
    started = {}
    for i in range(procs):
        run_dir = root / f"run{i}"
        env = dict(os.environ)
        if private:
            env.update(TORCHINDUCTOR_CACHE_DIR=str(run_dir / ".caches" / "inductor"),
                       TRITON_CACHE_DIR=str(run_dir / ".caches" / "triton"))
        log = open(root / f"run{i}.round{round_}.log", "w")
        started[run_dir.name] = (subprocess.Popen(command(run_dir, i, rounds, round_, extra), cwd=REPO, env=env,
                                                  stdout=log, stderr=subprocess.STDOUT), log)
    codes = {}
    for name, (proc, log) in started.items():
        codes[name] = proc.wait()
        log.close()
    return codes


def report(root: Path, procs: int, rounds: int, codes: Dict[int, Dict[str, int]]) -> dict:
    """Per round: exit codes, the first checks' gaps, how many were over the limit, the retries' gaps."""
    logs = {f"run{i}": checks_per_invocation(root / f"run{i}" / "train.log") for i in range(procs)}
    rows = []
    for r in range(1, rounds + 1):
        firsts, retries = [], []
        for invocations in logs.values():
            checks = invocations[r - 1] if len(invocations) >= r else []
            firsts += [c["gap"] for c in checks[:1]]
            retries += [c["gap"] for c in checks[1:]]
        rows.append({"round": r, "exit_codes": sorted(codes[r].values()), "checks": len(firsts),
                     "over_limit": sum(1 for g in firsts if not g <= LIMIT), "gaps": firsts, "retry_gaps": retries})
    return {"procs": procs, "rounds": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="an empty or new folder for the runs")
    parser.add_argument("--procs", type=int, default=6, help="runs side by side")
    parser.add_argument("--rounds", type=int, default=3, help="invocations of every run: a start, then resumes")
    parser.add_argument("--private-caches", action="store_true", help="a cache folder of its own for every run")
    parser.add_argument("--set", nargs="+", default=[], help="overrides added to every run's start")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    if args.procs < 1 or args.rounds < 1:
        parser.error("--procs and --rounds take 1 or more")
    if args.root.exists() and any(args.root.iterdir()):
        parser.error(f"--root {args.root} is not empty: give a new folder (each round resumes the runs in it)")
    args.root.mkdir(parents=True, exist_ok=True)
    codes = {}
    for r in range(1, args.rounds + 1):
        codes[r] = run_round(args.root, args.procs, args.rounds, r, args.private_caches, args.set)
        print(f"round {r}: exit codes {sorted(codes[r].values())}", flush=True)
    table = report(args.root, args.procs, args.rounds, codes)
    print(f"{'round':>5s} {'checks':>6s} {'over 3%':>7s}  first checks' logit gaps (%)  [retries]")
    for row in table["rounds"]:
        gaps = " ".join(f"{g:.2f}" for g in row["gaps"]) or "none logged (not compiled: a CPU?)"
        retries = f"  [{' '.join(f'{g:.2f}' for g in row['retry_gaps'])}]" if row["retry_gaps"] else ""
        print(f"{row['round']:5d} {row['checks']:6d} {row['over_limit']:7d}  {gaps}{retries}")
    if args.json:
        args.json.write_text(json.dumps({**table, "private_caches": args.private_caches, "set": args.set}, indent=1))
    sys.exit(1 if any(code for round_codes in codes.values() for code in round_codes.values()) else 0)


if __name__ == "__main__":
    main()
