"""The compiled path's check. An invocation's first evaluation on a ``torch.compile``'d path also scores the
validation split with the same weights outside torch.compile; logits further apart than rounding moves them mean the
graphs score some other model (it happened at starts and at resumes, bench/RESULTS.md). A failed check scores the
split once more with the same graphs, to tell a lasting fault from a passing one, and raises ``CompiledPathError``;
``vkan.train.train_and_close_epoch`` answers a first failure by training the epoch again on graphs compiled afresh
(``drop_compiled_graphs``), a second by stopping the run."""
from __future__ import annotations

import contextlib
import logging
from functools import partial
from typing import Any, Dict, List, Sequence

import torch

from vkan.engine import compare_forwards
from vkan.errors import CompiledPathError
from vkan.run_logger import report
from vkan.run_state import Run

log = logging.getLogger("vkan.train")  # its lines belong to the training log

# The compiled path's logits against the module's outside it: rounding left them 0.12-0.32% apart on the CPU, while
# a model one optimizer step away was 10-23% apart early in a run, and 0.3-2.0 points of accuracy (bench/logit_gap.py,
# bench/RESULTS.md): the logits tell the two apart, accuracies less well.
COMPILED_LOGIT_GAP = 0.03


def check_due(run: Run) -> bool:
    """Whether this invocation's compiled path has yet to pass ``check_compiled_scores`` (never on a path that is
    not compiled, or when ``trainer.limit_val_batches`` scores only part of the validation split)."""
    return run.is_compiled and not run.compiled_checked and not run.cfg.trainer.limit_val_batches


def check_compiled_scores(run: Run) -> None:
    """The first evaluation of an invocation on the compiled path: score the validation split through the compiled
    model and through the same weights outside torch.compile, log both, and stop if their logits differ by more than
    rounding does (``COMPILED_LOGIT_GAP``; ``vkan.engine.compare_forwards``): the graphs would be scoring some other
    model. The logits, not the accuracies, are compared, on the same batches (why: ``COMPILED_LOGIT_GAP``). On a
    failure the same graphs score the split once more, and the log names the batches over the limit in both passes.
    ``vkan.train.train_and_close_epoch`` answers the first failure by compiling afresh; this raises the second."""
    if not check_due(run):
        return
    run.compiled_checked = True
    compare = partial(compare_forwards, run.net, run.model, run.data.val, run.device, run.amp, full_batches=True)
    first = compare()
    acc, eager, gap, _ = first
    if run.ctx.is_main:
        report(f"compiled path checked: accuracy {acc:.4f} on the validation split, {eager:.4f} outside "
               f"torch.compile; logits {100 * gap:.2f}% apart (limit {100 * COMPILED_LOGIT_GAP:.0f}%)")
    if not gap <= COMPILED_LOGIT_GAP:  # NaN too: non-finite logits on either path
        # Clues to the cause: a few batches (one graph replay?) or all (the weights?); the same again (a lasting
        # fault of the graphs) or not (a passing one)?
        if run.ctx.is_main:
            report(f"compiled path: {batches_over_limit(first.batch_gaps)}")
        record = {"logit_gap": gap, "batches": len(first.batch_gaps),
                  "batches_over_limit": over_limit(first.batch_gaps), "again": second_pass(run, compare)}
        retried = (" also after the epoch was trained again on graphs compiled afresh, torch.compile's caches off"
                   if run.compiled_afresh else "")
        raise CompiledPathError(
            f"the compiled model's logits on the validation split are {100 * gap:.1f}% apart from those of the same "
            f"weights outside torch.compile (accuracy {acc:.4f} against {eager:.4f}; the limit is "
            f"{100 * COMPILED_LOGIT_GAP:.0f}%; rounding alone moved them 0.1-0.3% on the CPU){retried}: the compiled "
            f"path ({run.summary['path']}) is not scoring the model being trained. This epoch is not logged or "
            f"checkpointed. Go on with another path: python train.py resume={run.run_dir} {other_path(run)} (with "
            f"no epoch checkpointed yet, run the command again with that override instead), and report it with the "
            f"run's train.log and summary.json", record)


def second_pass(run: Run, compare) -> Dict[str, Any]:
    """A failed check's diagnosis: the same graphs score the validation split once more (every rank, as ``compare``
    reduces across them); its gap and batches over the limit, logged and returned. A diagnosis that fails itself (a
    CUDA error of faulty graphs, say) is recorded as such, and the check's failure goes on to its retry."""
    try:
        again = compare()
    except RuntimeError as err:
        if run.ctx.is_main:
            log.warning(f"compiled path, the same graphs again: failed ({err})")
        return {"error": str(err)}
    if run.ctx.is_main:
        report(f"compiled path, the same graphs again: logits {100 * again.gap:.2f}% apart, "
               f"{batches_over_limit(again.batch_gaps)}")
    return {"logit_gap": again.gap, "batches_over_limit": over_limit(again.batch_gaps)}


def over_limit(batch_gaps: Sequence[float]) -> List[int]:
    """The validation batches (evaluation steps, ``ForwardComparison.batch_gaps``) whose own logit gap is over
    ``COMPILED_LOGIT_GAP`` (NaN too)."""
    return [i for i, g in enumerate(batch_gaps) if not g <= COMPILED_LOGIT_GAP]


def batches_over_limit(batch_gaps: Sequence[float]) -> str:
    """``over_limit`` in words: "batches over the limit: 2 of 10 (3: 87.1%, 9: 4.2%)", the first ten of them."""
    over = over_limit(batch_gaps)
    shown = ", ".join(f"{i}: {100 * batch_gaps[i]:.1f}%" for i in over[:10]) + (", ..." if len(over) > 10 else "")
    return f"batches over the limit: {len(over)} of {len(batch_gaps)}" + (f" ({shown})" if over else "")


def other_path(run: Run) -> str:
    """The override that takes a run off its compiled path: CUDA graphs -> torch.compile's default mode -> plain
    eager (no CUDA graphs of any kind: the fault's cause is not known)."""
    if run.summary["path"].startswith("torch.compile (default mode)"):
        return "trainer.compile=false trainer.graph_ffn=false"
    return "trainer.compile_mode=null"


def drop_compiled_graphs() -> bool:
    """Forget every compiled graph of the process (dynamo's code caches and the CUDA graphs) and turn torch.compile's
    on-disk caches off (``force_disable_caches``: Inductor's graph, AOTAutograd, autotuning and profile caches;
    Triton's kernel cache stays), so that the next compilation starts afresh; return the cache switch as it was."""
    import torch._dynamo

    torch._dynamo.reset()
    if torch.cuda.is_initialized():
        with contextlib.suppress(ImportError, AttributeError):  # torch's own reset drops them in recent versions
            from torch._inductor.cudagraph_trees import reset_cudagraph_trees

            reset_cudagraph_trees()
    return disable_compile_caches(True)


def disable_compile_caches(disabled: bool) -> bool:
    """Set torch.compile's ``force_disable_caches`` (``torch.compiler.config`` in recent torch, else Inductor's
    config); return what it was."""
    import torch._inductor.config

    config = getattr(torch.compiler, "config", None)
    if config is None or not hasattr(config, "force_disable_caches"):
        config = torch._inductor.config
    was, config.force_disable_caches = bool(config.force_disable_caches), disabled
    return was
