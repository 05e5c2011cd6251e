"""What training and evaluation share: the device and precision to run on, and scoring a model on a loader."""
from __future__ import annotations

import math
import sys
from contextlib import nullcontext
from typing import Iterable, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from vkan import distributed as dist
from vkan.errors import ConfigError
from vkan.kan_tools import kan_regularization_loss


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when visible, else CPU) or an explicit device that must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but no CUDA GPU is visible; use trainer.device=cpu or auto")
    return device


def autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """bf16 autocast on GPU by default, fp32 (no autocast) on CPU."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp32": None}[precision]


def autocast(device: torch.device, amp: Optional[torch.dtype], cache: bool = True):
    """The autocast context of a forward pass (a no-op context without ``amp``); ``cache=False`` turns off autocast's
    cache of cast weights (CUDA graph capture needs it off)."""
    return torch.autocast(device.type, dtype=amp, cache_enabled=cache) if amp else nullcontext()


def limited(loader: Iterable, limit: Optional[int]):
    """The first ``limit`` batches of ``loader`` (all of them for None)."""
    for i, batch in enumerate(loader):
        if limit is not None and i >= limit:
            return
        yield batch


def progress(iterable, total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr when ``enabled``."""
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)


@torch.no_grad()
def clip_gradients(params: Sequence[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale the gradients of ``params`` so that their total L2 norm is at most ``max_norm``, and return that norm,
    as ``torch.nn.utils.clip_grad_norm_`` does (the scaling is torch's ``clip_grads_with_norm_``), for gradients on
    one device in fp32 (or lower: the norm is then fp32). The norm is taken over one flat copy of the gradients (a pass
    over their bytes on the device) rather than as one norm tensor a gradient, stacked: some hundreds of operator
    calls fewer a step for the host, which bounds a small model's eager step (bench/RESULTS.md, thirty-fifth
    session)."""
    params = list(params)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    flat = torch._utils._flatten_dense_tensors(grads)  # one C++ call (torch's private helper, DataParallel's), not ~150
    total = torch.linalg.vector_norm(flat, dtype=torch.float32)
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return total


class LossHead(nn.Module):
    """The part of a training step after the model, on its logits alone: ``forward(logits, targets, labels)`` gives
    ``criterion`` on the fp32 logits and ``targets``, and how many predictions equal ``labels``. A module of its own so
    that an eager GPU run can replay it as a CUDA graph (``vkan.ffn_graphs.graph_loss_head``, ``trainer.graph_ffn``):
    the label-smoothed loss and the accuracy count are some thirty kernel launches a step, forward and backward, which
    the host pays for one by one."""

    def __init__(self, criterion: nn.Module):
        super().__init__()
        self.criterion = criterion

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor):
        return self.criterion(logits.float(), targets), (logits.argmax(-1) == labels).sum()


class ModelWithLoss(nn.Module):
    """The model with its training loss and the step's metric sums, one module for ``torch.compile`` to trace: the
    loss, its gradient and the sums then run inside the model's graphs instead of as some thirty separate kernel
    launches a step, which the host cannot hide behind a small model's step under CUDA graphs (bench/RESULTS.md,
    issue 20).

    ``forward(x)`` gives the logits (evaluation). ``forward(x, targets, labels)`` gives the loss, ``criterion``
    on the fp32 logits and ``targets`` (``loss_head``, a ``LossHead``) plus ``kan_reg_weight`` times the KAN layers'
    L1 + entropy penalty, and a (2,) tensor of sums for the epoch's metrics: the loss times the batch size, and the
    predictions equal to ``labels``. Where ``loss_head`` is replayed as CUDA graphs, the loss without a penalty is
    the graphs' output, which the next training forward overwrites: take its backward first (a training step does).
    The model's own ``state_dict`` is the one to save (it is ``self.model``).
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, kan_reg_weight: float = 0.0):
        super().__init__()
        self.model, self.loss_head, self.kan_reg_weight = model, LossHead(criterion), kan_reg_weight

    def forward(self, x: torch.Tensor, targets: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None):
        logits = self.model(x)
        if targets is None:
            return logits
        loss, correct = self.loss_head(logits, targets, labels)
        if self.kan_reg_weight:
            loss = loss + self.kan_reg_weight * kan_regularization_loss(self.model)
        return loss, torch.stack([loss.detach() * len(labels), correct.to(loss.dtype)])


def full_batch_forward(model: nn.Module, x: torch.Tensor, size: Optional[int]) -> torch.Tensor:
    """``model(x)`` run at batch size ``size`` when ``x`` is a shorter batch (a loader's last): zero images fill the
    batch and their logits are dropped. A model compiled with static shapes (``torch.compile(dynamic=False)``) then
    runs the graph it has for full batches instead of compiling (and, under CUDA graphs, recording) another for
    each short size: the holdout's and the test split's last batches. For evaluation only, and for models without
    batch statistics in eval mode (vkan's and timm's ViTs): an image's logits then do not depend on the other images
    of its batch, up to the rounding a different batch size may bring."""
    n = len(x)
    if size is None or n >= size:
        return model(x)
    return model(torch.cat([x, x.new_zeros((size - n, *x.shape[1:]))]))[:n]


class ForwardComparison(NamedTuple):
    """What ``compare_forwards`` measured: both accuracies, the logits' gap over the whole loader, and the gap of
    each evaluation step (step i: the i-th batch of the loader, of every rank's together), which says whether a few
    batches or all of them differ."""

    accuracy: float
    reference_accuracy: float
    gap: float
    batch_gaps: Tuple[float, ...]


def _relative(gap_sq: float, spread_sq: float) -> float:
    """sqrt(gap_sq / spread_sq); infinite for a gap where the reference's logits have no spread."""
    if not spread_sq:  # the reference's logits equal across classes for every image: any difference is infinitely far
        return 0.0 if gap_sq == 0 else math.inf
    return (gap_sq / spread_sq) ** 0.5  # NaN when either gave NaN or inf


@torch.no_grad()
def compare_forwards(model: nn.Module, reference: nn.Module, loader, device: torch.device,
                     amp: Optional[torch.dtype], full_batches: bool = False) -> ForwardComparison:
    """Accuracies of ``model`` and of ``reference`` over the loader, and their logits' gap, for two forwards of the
    same weights: the compiled path and the module outside it, say. The gap is the root mean square of the two
    logits' difference over that of ``reference``'s logits, each taken about the image's mean logit (a shift of all
    of an image's logits changes no prediction); summed across ranks. What rounding and nearby models give:
    ``bench/logit_gap.py``, and ``vkan.compiled_check.COMPILED_LOGIT_GAP``. ``full_batches``: ``model`` sees only batches of
    the loader's ``batch_size`` (``full_batch_forward``).
    """
    size = getattr(loader, "batch_size", None) if full_batches else None
    was = model.training, reference.training
    model.eval(), reference.eval()
    per_batch = []  # each batch's model correct, reference correct, gap sum of squares, spread, count
    try:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, amp):
                ref = reference(x).float()
                out = full_batch_forward(model, x, size).float()  # may be a CUDA graph's output: used before the next
            ref = ref - ref.mean(-1, keepdim=True)
            gap = out - out.mean(-1, keepdim=True) - ref
            per_batch.append(torch.stack([(out.argmax(-1) == y).sum().float(), (ref.argmax(-1) == y).sum().float(),
                                          gap.square().sum(), ref.square().sum(),
                                          torch.tensor(float(len(y)), device=device)]))
    finally:
        model.train(was[0]), reference.train(was[1])
    sums = torch.stack(per_batch) if per_batch else torch.zeros((0, 5), device=device)  # (batches, 5)
    correct, ref_correct, gap_sq, spread_sq, count = dist.all_reduce_sum(sums.sum(0)).tolist()
    if not count:
        raise ValueError("compare_forwards: the loader gave no images to compare")
    steps = int(dist.all_reduce_max(torch.tensor([len(per_batch)], device=device)).item())  # ranks may differ by one
    step_sums = torch.zeros((steps, 2), device=device)
    step_sums[:len(per_batch)] = sums[:, 2:4]
    batch_gaps = tuple(_relative(g, s) for g, s in dist.all_reduce_sum(step_sums).tolist())
    return ForwardComparison(correct / count, ref_correct / count, _relative(gap_sq, spread_sq), batch_gaps)


@torch.no_grad()
def evaluate(model: nn.Module, loader, device: torch.device, amp: Optional[torch.dtype], limit: Optional[int] = None,
             show_progress: bool = False, desc: str = "eval", full_batches: bool = False) -> Tuple[float, float]:
    """(mean loss, accuracy) of ``model`` over the loader, summed across ranks; one host sync at the end.
    ``full_batches``: ``model`` sees only batches of the loader's ``batch_size`` (``full_batch_forward``)."""
    size = getattr(loader, "batch_size", None) if full_batches else None
    was_training = model.training
    model.eval()
    totals = torch.zeros(2, device=device)  # loss sum, correct
    count = 0
    total = len(loader) if limit is None else min(len(loader), limit)
    for x, y in progress(limited(loader, limit), total, desc, show_progress):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = full_batch_forward(model, x, size)
        totals[0] += F.cross_entropy(logits.float(), y, reduction="sum")
        totals[1] += (logits.argmax(-1) == y).sum()
        count += len(y)
    model.train(was_training)
    totals = dist.all_reduce_sum(torch.cat([totals, torch.tensor([count], device=device, dtype=totals.dtype)]))
    loss_sum, correct, count = totals.tolist()
    return loss_sum / max(count, 1), correct / max(count, 1)
