"""How far apart two forwards of the same weights are, against two nearby models: what the app's compiled-path check
(``vkan.compiled_check.check_compiled_scores``) must tell apart.

    python bench/logit_gap.py model=vit data=cifar10 data.val_split=holdout trainer.device=cpu \\
        trainer.precision=bf16 trainer.batch_size=128 --stages 100 300 --later 1 10 --val-batches 8
    python bench/logit_gap.py model=vit_kan data=cifar10 data.val_split=holdout --stages 88 --mode reduce-overhead

The run is built as ``train.py`` builds it (``bench/app_step.py``'s ``build_run``) but eager, and trained with the
app's ``training_step`` up to each of ``--stages`` (optimizer steps in all). At each stage the validation split
(its first ``--val-batches`` batches) is scored by pairs of forwards through ``vkan.engine.compare_forwards``:

- ``compiled / eager``: ``torch.compile`` (``--mode``) against the module, both under the run's autocast;
- ``autocast / fp32``: the module under the run's autocast (bf16 on a GPU) against it in fp32, when the two differ;
- ``N steps later / now``: the module after N more training steps (``--later``) against a copy taken at the stage.

Each row gives both accuracies, their difference in points and the logits' gap (root mean square of the difference
over that of the second forward's logits, each about the image's mean). The first two rows are rounding; the
others are other models, and the check's limit (``COMPILED_LOGIT_GAP``) must sit between them.
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from app_step import build_run  # noqa: E402


class Fp32(nn.Module):
    """A module's forward with autocast off: the fp32 reference of a bf16 forward."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.module(x.float())


def train_steps(run, n: int) -> None:
    """``n`` optimizer steps of the app's ``training_step``, going on through the loader's epochs as ``train.py``
    does (each epoch its own order and augmentation) from where ``run.step`` stands."""
    from vkan.engine import limited
    from vkan.run_state import EpochTotals
    from vkan.train import training_step

    totals = EpochTotals.zeros(run.device)
    while n > 0:
        epoch, batch = divmod(run.step, run.steps_per_epoch)
        run.epochs_done = epoch
        run.data.train.set_epoch(epoch, batch)
        for x, y in limited(run.data.train, min(n, run.steps_per_epoch - batch)):
            training_step(run, x, y, totals)
            run.step += 1
            n -= 1


def stage_rows(run, compiled: nn.Module, later: List[int], val_batches: int) -> List[dict]:
    from vkan.engine import compare_forwards, limited

    stage = run.step

    def row(pair: str, model: nn.Module, reference: nn.Module, amp: Optional[torch.dtype]) -> dict:
        acc, ref_acc, gap, _ = compare_forwards(model, reference, list(limited(run.data.val, val_batches)),
                                                run.device, amp)
        return {"stage": stage, "step": run.step, "pair": pair, "acc": acc, "ref_acc": ref_acc,
                "points": 100 * (acc - ref_acc), "gap": gap}

    rows = [row("compiled / eager", compiled, run.model, run.amp)]
    if run.amp is not None:
        rows.append(row("autocast / fp32", run.model, Fp32(run.model), run.amp))
    now, done = copy.deepcopy(run.model), 0
    for n in sorted(later):
        train_steps(run, n - done)
        done = n
        rows.append(row(f"{n} steps later / now", run.model, now, run.amp))
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the run, as train.py takes them")
    parser.add_argument("--stages", type=int, nargs="+", default=[100], help="optimizer steps at which to measure")
    parser.add_argument("--later", type=int, nargs="+", default=[1, 10], help="steps on to the nearby models")
    parser.add_argument("--mode", default="default", help="torch.compile mode of the compiled forward")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend (aot_eager: no code generation)")
    parser.add_argument("--val-batches", type=int, default=20, help="validation batches scored a pair")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    stages = sorted(args.stages)
    if min(stages) < 0 or min(args.later) < 1 or any(b - a < max(args.later) for a, b in zip(stages, stages[1:])):
        parser.error(f"--stages {' '.join(map(str, stages))} --later {' '.join(map(str, args.later))}: stages are "
                     f"steps >= 0 at least max(--later) apart (a stage's nearby models are trained from it), later "
                     f"steps >= 1")
    with tempfile.TemporaryDirectory() as out:
        run = build_run(["trainer.compile=false", "trainer.graph_ffn=false", *args.overrides], Path(out))
        compiled = torch.compile(run.model, mode=None if args.mode == "default" else args.mode, backend=args.backend)
        print(f"# {run.cfg.model.name} on {run.cfg.data.name}, {run.device}, autocast {run.amp}, batch "
              f"{run.cfg.trainer.batch_size}, torch.compile {args.backend} ({args.mode})")
        print("| step | pair | accuracy | reference's | points apart | logit gap |\n|---|---|---|---|---|---|")
        rows = []
        for stage in stages:
            train_steps(run, stage - run.step)
            for r in stage_rows(run, compiled, args.later, args.val_batches):
                rows.append(r)
                print(f"| {r['stage'] if r['pair'].startswith('compiled') else ''} | {r['pair']} | {r['acc']:.4f} | "
                      f"{r['ref_acc']:.4f} | {r['points']:+.2f} | {100 * r['gap']:.2f}% |", flush=True)
    if args.json:
        from vkan.run_logger import write_json

        write_json(args.json, {"model": run.cfg.model.name, "data": run.cfg.data.name, "device": str(run.device),
                               "amp": str(run.amp), "mode": args.mode, "backend": args.backend, "rows": rows})


if __name__ == "__main__":
    main()
