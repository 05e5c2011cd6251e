"""Run a plan of training jobs side by side on one GPU (small models leave it mostly idle), then print a table.

    python bench/campaign.py bench/plans/cifar10.json --root /tmp/runs/tune --seeds 0
    python bench/campaign.py bench/plans/cifar10.json --root /tmp/runs/final --seeds 0 1 2 \\
        --best-of /tmp/runs/tune --score-test
    python bench/campaign.py bench/plans/cifar10.json --root /tmp/runs/final --resume   # after a time guard

A plan (JSON) names ``common`` overrides, ``recipes`` (name -> overrides) and ``models`` (name -> overrides);
the jobs are recipes x models x seeds, each ``python train.py`` in its own folder ``ROOT/<recipe>-<model>-s<seed>``
with ``campaign.json`` beside Hydra's files. Jobs never see the test split unless ``--score-test`` is given
(the final runs of a chosen recipe). ``--best-of DIR`` keeps the one recipe with the best holdout accuracy in DIR,
averaged per model and then over the models (recipes that did not run for every model are skipped); with
``--rank-by-last N`` a run's accuracy is the mean of its last N evaluations instead of its best.
``--resume`` continues the unfinished jobs in ROOT (stopped by a time guard, say) from their checkpoints, side by
side; with ``--retry-failed`` it continues the failed ones instead (``--set trainer.compile_mode=null``, say).
Exits 1 if a job failed; its log is ``ROOT/<job>.log`` (``.resume.log``). ``--report`` runs nothing: it prints the
Markdown table of the plan's recipes from the job folders already in ROOT (holdout accuracy mean ± std over seeds,
failures named; ``--at-epoch N`` adds each recipe's holdout accuracy at epoch N, ``--rank-by-last N`` the mean of its
runs' last N evaluations).
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
# what every job's train.py gets after its own overrides (a campaign logs to files, never to W&B)
LAUNCH_OVERRIDES = ["logger=none", "trainer.progress_bar=false"]


def jobs(plan: dict, recipes: List[str], seeds: List[int], extra: List[str],
         models: Optional[List[str]] = None) -> Dict[str, dict]:
    """{job name: its recipe, model, seed and train.py overrides}, recipes x models (default: all the plan's) x
    seeds."""
    out = {}
    for recipe in recipes:
        for model in models or plan["models"]:
            model_overrides = plan["models"][model]
            for seed in seeds:
                overrides = [*plan["common"], *plan["recipes"][recipe], *model_overrides, f"seed={seed}", *extra]
                out[f"{recipe}-{model}-s{seed}"] = {"recipe": recipe, "model": model, "seed": seed,
                                                    "overrides": overrides}
    return out


def holdout_curve(run_dir: Path) -> Dict[int, float]:
    """{epoch: holdout accuracy} from the run's metrics.csv, in epoch order; an epoch written twice (a resume after a
    crash between its row and its checkpoint) counts by its last row; {} without a metrics.csv."""
    path = run_dir / "metrics.csv"
    if not path.exists():
        return {}
    with open(path) as f:
        rows = {int(r["epoch"]): float(r["val_acc"]) for r in csv.DictReader(f) if r.get("val_acc")}
    return dict(sorted(rows.items()))


def holdout_score(run_dir: Path, summary: dict, last: int = 0) -> Optional[float]:
    """A run's holdout accuracy: its best (``last`` 0), or the mean of its last ``last`` evaluations (fewer if it
    has fewer), a steadier reading when the holdout is small (flowers: 294 photos) and the best is a maximum over
    many epochs; None when the run has no evaluations to read."""
    if not last:
        return summary["best_val_acc"]
    values = list(holdout_curve(run_dir).values())[-last:]
    return statistics.mean(values) if values else None


def best_recipe(folder: Path, models: List[str], last: int = 0) -> str:
    """The recipe with the highest mean holdout score (``holdout_score``) over its finished jobs in ``folder``
    (holdout runs only), averaged per model and then over the models."""
    scores: Dict[str, Dict[str, List[float]]] = {}
    for record in folder.glob("*/campaign.json"):
        job = json.loads(record.read_text())
        summary_file = record.parent / "summary.json"
        if not summary_file.exists():
            continue
        summary = json.loads(summary_file.read_text())
        score = holdout_score(record.parent, summary, last) if summary.get("status") == "finished" and \
            summary.get("val_split") == "holdout" else None
        if score is not None:
            scores.setdefault(job["recipe"], {}).setdefault(job["model"], []).append(score)
    means = {recipe: statistics.mean(statistics.mean(per[m]) for m in models)
             for recipe, per in scores.items() if set(models) <= set(per)}
    if not means:
        sys.exit(f"no recipe in {folder} finished on the holdout split for every model ({', '.join(models)})")
    what = f"mean of the last {last} evaluations" if last else "best"
    for recipe in sorted(means, key=means.get, reverse=True):
        print(f"holdout ({what}) {recipe}: {means[recipe]:.4f} (" +
              ", ".join(f"{m} {statistics.mean(scores[recipe][m]):.4f}" for m in models) + ")")
    return max(means, key=means.get)


def unfinished_jobs(root: Path, recipes: List[str], models: List[str], failed_only: bool = False) -> Dict[str, dict]:
    """{job name: its record} of the jobs in ``root`` of these recipes and models that stopped before their last
    epoch (paused by ``trainer.pause_after_minutes`` or ``max_epochs_this_run``, interrupted, killed) and left a
    checkpoint to continue from. Failed jobs are left as they are (a resume would most likely fail again), named;
    ``failed_only`` gives those instead (to continue from their last checkpoint, e.g. on another compile path)."""
    todo, failed, lost = {}, [], []
    for record in sorted(root.glob("*/campaign.json")):
        job = json.loads(record.read_text())
        summary = record.parent / "summary.json"
        status = json.loads(summary.read_text()).get("status", "") if summary.exists() else ""
        if job["recipe"] not in recipes or job["model"] not in models or status == "finished":
            continue
        if not (record.parent / "checkpoints" / "last.pt").exists():
            lost += [record.parent.name] if status.startswith("failed") else []
            continue
        if status.startswith("failed"):
            failed.append(record.parent.name)
        if status.startswith("failed") == failed_only:
            todo[record.parent.name] = job
    if lost:
        print(f"failed before any checkpoint, not continued: {', '.join(lost)} (start them again in another ROOT)")
    if failed:
        print(f"{'continued' if failed_only else 'not continued'}, failed: {', '.join(failed)} (their logs in {root} "
              f"say why{'' if failed_only else '; --resume --retry-failed continues them alone'})")
    return todo


def run_all(todo: Dict[str, dict], root: Path, parallel: int, resume_with: Optional[List[str]] = None
            ) -> Dict[str, int]:
    """Run the jobs, ``parallel`` at a time (each ``python train.py`` in the checkout), or continue them with
    ``resume_with`` overrides (``resume`` takes only a few: ``trainer.max_minutes``, ...); {name: exit code}."""
    waiting, running, codes = list(todo), {}, {}
    while waiting or running:
        while waiting and len(running) < parallel:
            name = waiting.pop(0)
            running[name] = launch(name, todo[name], root) if resume_with is None else \
                continue_job(name, root, resume_with)
        time.sleep(1)
        for name, (proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                codes[name] = proc.returncode
                del running[name]
    return codes


def resume_refuses(overrides: List[str]) -> Tuple[List[str], Tuple[str, ...]]:
    """The overrides ``python train.py resume=...`` would refuse (``vkan.config.changes_a_resume_refuses``), and the
    keys it takes (``vkan.config.RESUME_OVERRIDABLE``)."""
    sys.path.insert(0, str(REPO))
    from vkan.config import RESUME_OVERRIDABLE, changes_a_resume_refuses

    return changes_a_resume_refuses(overrides), RESUME_OVERRIDABLE


def continue_job(name: str, root: Path, overrides: List[str]):
    """``python train.py resume=ROOT/<name>``: the saved config goes on from the last checkpoint; log appended to
    ``ROOT/<name>.resume.log``."""
    run_dir = root.resolve() / name
    hydra_dir = run_dir / f".resume-{time.strftime('%Y%m%d-%H%M%S')}"  # its log is merged into the run's, then dropped
    command = [sys.executable, str(REPO / "train.py"), f"resume={run_dir}", f"hydra.run.dir={hydra_dir}", *overrides]
    log = open(root / f"{name}.resume.log", "a")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO), log


def launch(name: str, job: dict, root: Path):
    run_dir = root.resolve() / name
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(REPO / "train.py"), *job["overrides"], f"hydra.run.dir={run_dir}", *LAUNCH_OVERRIDES]
    record = {**job, "command": " ".join(["python", "train.py", *command[2:]])}
    (run_dir / "campaign.json").write_text(json.dumps(record, indent=1))
    log = open(root / f"{name}.log", "w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO), log


def cell(summary: dict, key: str, spec: str) -> str:
    return format(summary[key], spec) if summary.get(key) is not None else "-"


def table(root: Path, names: List[str], codes: Dict[str, int]) -> None:
    print(f"{'job':28s} {'rc':>3s} {'status':9s} {'holdout':>8s} {'test':>7s} {'img/s':>8s} {'epochs':>6s} {'wall s':>7s}")
    paused = []
    for name in names:
        path = root / name / "summary.json"
        s = json.loads(path.read_text()) if path.exists() else {}
        status = (s.get("status") or "-").split(" ")[0].rstrip(":")
        paused += [name] if status == "paused" else []
        print(f"{name:28s} {codes[name]:3d} {status:9s} {cell(s, 'best_val_acc', '8.4f')} {cell(s, 'test_acc', '7.4f')} "
              f"{cell(s, 'img_per_s', '8.0f')} {cell(s, 'epochs_done', '6d')} {cell(s, 'wall_time_s', '7.0f')}")
    if paused:
        print(f"{len(paused)} job(s) paused: continue them with --resume")


def job_outcome(root: Path, name: str) -> Tuple[dict, str]:
    """(summary.json, "finished" | "failed: <why>" | "unfinished") of one job. Why: the error its summary or, failing
    that, its log's last ``error:`` line names (early versions dropped a failed run's folder; the log stays)."""
    path = root / name / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    status = summary.get("status", "")
    if status == "finished":
        return summary, "finished"
    log = root / f"{name}.log"
    errors = [ln for ln in log.read_text().splitlines() if ln.startswith("error:")] if log.exists() and not status \
        else []  # a status says how the run stands, whatever an earlier invocation's log says
    if not status.startswith("failed") and not errors:
        return summary, "unfinished"  # running, paused or interrupted
    why = summary.get("error") or (errors[-1][len("error:"):] if errors else status.removeprefix("failed: "))
    return summary, "failed: " + why.splitlines()[0].split(";")[0].strip().replace("|", "/")[:120]


def mean_std(values: List[float]) -> str:
    """``81.00% ± 1.41`` (percent; one value: no std; none: -)."""
    if not values:
        return "-"
    return f"{100 * statistics.mean(values):.2f}%" + (f" ± {100 * statistics.stdev(values):.2f}" if len(values) > 1 else "")


def report(plan: dict, root: Path, at_epoch: Optional[int] = None, last: int = 0) -> str:
    """Markdown: one row per recipe and model of ``plan`` with jobs in ``root``: best holdout accuracy of the
    finished runs (mean ± std over seeds), failures named; ``at_epoch`` adds the holdout accuracy of that epoch
    over the runs that reached it (equal footing when a time budget ended some runs early), ``last`` the mean of
    each finished run's last ``last`` evaluations (``holdout_score``)."""
    at = f" holdout acc at epoch {at_epoch} (runs) |" if at_epoch else ""
    at += f" holdout acc, mean of the last {last} |" if last else ""
    rows = [f"| recipe | model | overrides | best holdout acc |{at} finished | epochs | params | img/s (GPU shared) |",
            "|---|---|---|---|" + "---|" * (bool(at_epoch) + bool(last)) + "---|---|---|---|"]
    for recipe, overrides in plan["recipes"].items():
        for model in plan.get("models", {}):
            pattern = re.compile(re.escape(f"{recipe}-{model}-s") + r"\d+")
            names = sorted({p.name.removesuffix(".log") for p in root.glob(f"{recipe}-{model}-s*")
                            if pattern.fullmatch(p.name.removesuffix(".log"))})
            if not names:
                continue
            outcomes = {n: job_outcome(root, n) for n in names}
            done = [summary for summary, state in outcomes.values() if state == "finished"]
            problems = sorted({state for _, state in outcomes.values() if state != "finished"})
            at_values = [v for v in (holdout_curve(root / n).get(at_epoch) for n in names) if v is not None] if at_epoch else []
            acc_at = f" {mean_std(at_values)} ({len(at_values)}/{len(names)}) |" if at_epoch else ""
            if last:
                scores = [holdout_score(root / n, summary, last) for n, (summary, state) in outcomes.items()
                          if state == "finished"]
                acc_at += f" {mean_std([v for v in scores if v is not None])} |"
            epochs = sorted({s["epochs_done"] for s in done})
            epoch_text = "-".join(map(str, sorted({epochs[0], epochs[-1]}))) if epochs else ""
            stopped = " (time guard)" if any(s.get("stopped_by") for s in done) else ""
            finished = f"{len(done)}/{len(names)}" + "".join(f"; {p}" for p in problems)
            speed = f"{statistics.mean(s['img_per_s'] for s in done):,.0f}" if done else "-"
            params = f"{done[0]['params'] / 1e6:.2f} M" if done else "-"
            rows.append(f"| {recipe} | {model} | {' '.join(overrides) or '(the recipe)'} | "
                        f"{mean_std([s['best_val_acc'] for s in done])} |{acc_at} {finished} | {epoch_text}{stopped} "
                        f"| {params} | {speed} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", type=Path)
    parser.add_argument("--root", type=Path, required=True, help="folder of the job folders and logs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--recipes", nargs="+", help="recipes of the plan to run (default: all)")
    parser.add_argument("--models", nargs="+", help="models of the plan to run or resume (default: all), e.g. "
                        "to give one model other seeds in a second invocation on the same ROOT; --best-of still "
                        "ranks recipes over all of them, and --report shows all")
    parser.add_argument("--best-of", type=Path, help="run only the best recipe of this earlier campaign folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the unfinished jobs in ROOT from their checkpoints (with --set: overrides a "
                             "resume accepts, e.g. trainer.max_minutes=7), side by side; nothing new is started")
    parser.add_argument("--retry-failed", action="store_true",
                        help="--resume: continue the failed jobs instead (only those), from their last checkpoints, "
                             "e.g. with --set trainer.compile_mode=null after a failed compiled-path check")
    parser.add_argument("--rank-by-last", type=int, default=0, metavar="N",
                        help="--best-of: rank recipes by each run's mean holdout accuracy over its last N evaluations "
                             "(steadier on a small holdout) instead of its best; --report: add that mean as a column")
    parser.add_argument("--set", nargs="+", default=[], help="overrides added to every job")
    parser.add_argument("--score-test", action="store_true",
                        help="score the test split at the end of each job (final runs only; off: tuning)")
    parser.add_argument("--parallel", type=int, default=0, help="jobs at a time (default: all at once)")
    parser.add_argument("--report", action="store_true", help="run nothing; print the table of the jobs in ROOT")
    parser.add_argument("--at-epoch", type=int, help="--report: also the holdout accuracy of this epoch")
    args = parser.parse_args()
    if args.rank_by_last and (args.rank_by_last < 0 or not (args.best_of or args.report)):
        parser.error("--rank-by-last N takes N >= 1 and applies to --best-of DIR (or adds a column to --report)")
    if args.resume and (args.best_of or args.score_test):
        parser.error("--resume continues jobs as they were launched (their test scoring too): no --best-of, "
                     "--score-test")
    if args.retry_failed and not args.resume:
        parser.error("--retry-failed continues failed jobs: it goes with --resume")
    refused, allowed = resume_refuses(args.set) if args.resume else ([], ())
    if refused:
        parser.error(f"--set {' '.join(refused)}: a resume keeps the run's config; it takes only "
                     f"{', '.join(key for key in allowed if key != 'resume')}")
    plan = json.loads(args.plan.read_text())
    unknown = sorted(set(args.models or []) - set(plan["models"]))
    if unknown:
        parser.error(f"--models: no model {', '.join(unknown)} in {args.plan}; its models are "
                     f"{', '.join(plan['models'])}")
    models = args.models or list(plan["models"])
    if args.report:
        print(report(plan, args.root, args.at_epoch, args.rank_by_last))
        return
    if args.resume:
        todo = unfinished_jobs(args.root, args.recipes or list(plan["recipes"]), models, args.retry_failed)
        if not todo:
            sys.exit(f"no unfinished job with a checkpoint in {args.root}")
    else:
        recipes = args.recipes or list(plan["recipes"])
        if args.best_of:
            recipes = [best_recipe(args.best_of, list(plan["models"]), args.rank_by_last)]  # every model: twins alike
            print(f"recipe chosen on the holdout split: {recipes[0]}")
        todo = jobs(plan, recipes, args.seeds, [f"trainer.score_test={str(args.score_test).lower()}", *args.set],
                    models)
        sys.path.insert(0, str(REPO))
        from vkan.config import holds_a_run

        used = [name for name in todo if holds_a_run(args.root / name)]
        if used:  # train.py would refuse them, after their logs had been truncated: stop before launching any
            sys.exit(f"{args.root} already holds {', '.join(used)}, so nothing was started: continue unfinished jobs "
                     f"with --resume, see them with --report, leave their seeds, models or recipes out of this "
                     f"invocation, or use another --root")
    start = time.perf_counter()
    codes = run_all(todo, args.root, args.parallel or len(todo), resume_with=args.set if args.resume else None)
    print(f"{len(todo)} jobs {'continued' if args.resume else 'run'} side by side in {time.perf_counter() - start:.0f} s")
    table(args.root, list(todo), codes)
    sys.exit(1 if any(codes.values()) else 0)


if __name__ == "__main__":
    main()
