"""What the steps of a training run share (``Run``), and the per-epoch state it keeps: the epoch's running sums
(``EpochTotals``) and the clock ``trainer.max_minutes`` decides on (``EpochClock``). ``vkan.train`` runs the steps."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn
from omegaconf import DictConfig

from vkan import distributed as dist
from vkan.data import DataBundle
from vkan.interrupt import StopSignal
from vkan.run_logger import RunLogger


@dataclass
class EpochTotals:
    """Running sums of one epoch, kept on the device (no host sync per step)."""

    sums: torch.Tensor  # (2,): loss sum, correct predictions
    count: int = 0
    seconds: float = 0.0

    @classmethod
    def zeros(cls, device: torch.device, state: Optional[dict] = None) -> "EpochTotals":
        state = state or {"loss_sum": 0.0, "correct": 0.0, "count": 0, "seconds": 0.0}
        sums = torch.tensor([state["loss_sum"], state["correct"]], device=device, dtype=torch.float64)
        return cls(sums, int(state["count"]), float(state["seconds"]))

    def add(self, sums: torch.Tensor, count: int) -> None:
        """A step's (2,) sums (``vkan.engine.ModelWithLoss``) over ``count`` images: one kernel, no host sync."""
        self.sums += sums
        self.count += count

    def state(self) -> dict:
        loss_sum, correct = self.sums.tolist()
        return {"loss_sum": loss_sum, "correct": correct, "count": self.count, "seconds": self.seconds}


@dataclass
class EpochClock:
    """What ``trainer.max_minutes`` decides on: the training time of a whole epoch (less the one-off compile)
    and the evaluation + checkpoint tail of the latest epoch."""

    budget_s: Optional[float]
    start: float = field(default_factory=time.perf_counter)
    train_s: float = 0.0
    tail_s: float = 0.0
    tail_start: float = 0.0
    epochs: int = 0  # epochs ended in this invocation

    def trained(self, seconds: float, one_off: float) -> None:
        """An epoch's training ended after ``seconds`` (``one_off`` of them compiling, in the first epoch)."""
        self.train_s = max(0.0, seconds - (one_off if self.epochs == 0 else 0.0))
        self.tail_start = time.perf_counter()

    def ended(self) -> None:
        """The epoch's evaluation and checkpoint are done."""
        self.tail_s, self.epochs = time.perf_counter() - self.tail_start, self.epochs + 1

    def next_epoch_overruns(self, budget_s: float, tails: int = 1) -> bool:
        """Whether the time so far, one more epoch's training and ``tails`` evaluation + checkpoint tails would end
        past ``budget_s``."""
        return time.perf_counter() - self.start + self.train_s + tails * self.tail_s > budget_s

    def another_overruns(self, compiled: bool = False) -> bool:
        """Whether this epoch's evaluation, checkpoint and test scoring, then another epoch with its own, would
        end past the budget (a tail not measured yet counts as nothing). A ``compiled`` model's first tail also
        compiled its evaluation graph, a one-off that can be a minute when several runs compile side by side,
        so until a second tail is measured it stands for this epoch's tail alone."""
        if not self.budget_s:
            return False
        return self.next_epoch_overruns(self.budget_s, tails=1 if compiled and self.epochs < 2 else 3)


@dataclass
class Run:
    """Everything the steps of one training run share."""

    cfg: DictConfig
    ctx: dist.DistContext
    device: torch.device
    amp: Optional[torch.dtype]
    run_dir: Path
    stop: StopSignal
    summary: Dict[str, Any]
    data: Optional[DataBundle] = None
    spec: Dict[str, Any] = field(default_factory=dict)
    model: Optional[nn.Module] = None
    net: Optional[nn.Module] = None  # the model as it runs, with its loss (ModelWithLoss): DDP-wrapped and/or compiled
    optimizer: Optional[torch.optim.Optimizer] = None
    trained: List[nn.Parameter] = field(default_factory=list)  # the optimizer's parameters, which gradient clipping
    #   scales: listed once, as walking the model's modules for them each step costs an eager step host time
    scheduler: Any = None
    ema: Any = None  # timm ModelEmaV3 or None
    mixup: Any = None  # timm Mixup or None
    criterion: Optional[nn.Module] = None
    logger: Optional[RunLogger] = None
    steps_per_epoch: int = 0
    has_kan: bool = False
    kernel_note: str = ""  # the KAN layers' kernels where not "auto", for the run's path label (pin_kernel_paths)
    epochs_done: int = 0  # completed epochs
    batches_done: int = 0  # batches of the current epoch already trained (a mid-epoch resume)
    step: int = 0  # optimizer steps so far
    best: Dict[str, Any] = field(default_factory=lambda: {"acc": -1.0, "epoch": -1, "acc_ema": -1.0})
    partial: Optional[EpochTotals] = None  # the interrupted epoch's totals, on resume
    compiled_checked: bool = False  # this invocation's compiled scores were compared with eager ones
    compiled_afresh: bool = False  # a failed check had the model compiled again (``train_and_close_epoch``)
    caches_were: Optional[bool] = None  # torch.compile's cache switch before ``compile_afresh`` turned it off
    rates: List[float] = field(default_factory=list)  # img/s of this invocation's epochs
    rates_before: List[float] = field(default_factory=list)  # steady img/s of earlier invocations run the same way
    wall0: float = field(default_factory=time.perf_counter)
    wall_before: float = 0.0  # seconds the earlier invocations of a resumed run took (from its checkpoint)
    clock: Optional[EpochClock] = None  # trainer.max_minutes
    data_s: float = 0.0  # seconds build_data took (photo sets decode their images here)
    out_of_time: bool = False  # another epoch would pass trainer.max_minutes: the current one was the last
    unsaved: Optional[Dict[str, Any]] = None  # the metrics row of the last epoch, if trainer.checkpoint_every skipped it

    def steady_rates(self) -> List[float]:
        """img/s of every epoch but the first of each invocation (compilation, warm-up), over the invocations that
        ran as this one does (``setup``; checkpoints before this record: this invocation only)."""
        return self.rates_before + self.rates[1:]

    def setup(self) -> List[Any]:
        """What an img/s depends on besides the model: processes, device type and the path (eager, compile mode)."""
        return [self.ctx.world_size, self.device.type, self.summary.get("path")]

    def wall_time(self) -> float:
        """Seconds the run has taken so far, over every invocation (a resumed run adds its earlier ones)."""
        return self.wall_before + time.perf_counter() - self.wall0

    @property
    def is_compiled(self) -> bool:
        """Whether the model runs through ``torch.compile`` (the path ``compiled`` chose and recorded)."""
        return self.summary.get("path", "").startswith("torch.compile")
