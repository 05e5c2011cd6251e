"""Safe interrupts: SIGINT (Ctrl-C) and SIGTERM (what schedulers send before preemption) stop training at the
next step boundary, where a resumable checkpoint is written; a second signal of the same kind stops at once."""
from __future__ import annotations

import signal
import sys
import threading
from typing import Dict, Optional

import torch

from vkan import distributed as dist

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """Training stopped on a signal; ``exit_code`` is 128 + its number (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


class StopSignal:
    """Catches SIGINT/SIGTERM while active (a context manager) and records the first one.

    Under torchrun the ranks may see a signal at different steps, so ``requested`` is agreed across ranks
    (an all-reduce every ``sync_every`` steps and at the end of every epoch): all ranks stop at the same step.
    torchrun's agent answers Ctrl-C with a SIGTERM to every rank, which is why only a second signal of the
    *same* kind stops at once.
    """

    def __init__(self, sync_every: int = 16):
        self.signum: Optional[int] = None
        self.sync_every = sync_every
        self._previous: Dict[int, object] = {}

    def __enter__(self) -> "StopSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.signum == signum:  # asked twice: stop now, without the checkpoint
            raise Interrupted(signum, f"stopped at once by a second {signal.Signals(signum).name}")
        if self.signum is None:
            self.signum = signum
            print(f"{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
                  f"(send it again to stop at once)", file=sys.stderr, flush=True)

    def requested(self, step: int, force_sync: bool = False) -> Optional[int]:
        """The signal to stop on, agreed by every rank, or None to go on. ``step`` counts optimizer steps."""
        if dist.world_size() == 1:
            return self.signum
        if not force_sync and step % self.sync_every:
            return None
        flag = torch.tensor([self.signum or 0], device=dist.default_device())
        agreed = int(dist.all_reduce_max(flag).item())
        if agreed and self.signum is None:
            self.signum = agreed
        return agreed or None


def interruption(err: BaseException) -> Optional[Interrupted]:
    """The ``Interrupted`` that ``err`` is or wraps: a second signal that arrives while torch.compile compiles is
    re-raised by Inductor as its own error (``inner_exception``, or the cause or context); None for other errors."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, Interrupted):
            return err
        seen.add(id(err))
        inner = getattr(err, "inner_exception", None)
        context = None if err.__suppress_context__ else err.__context__
        err = inner if isinstance(inner, BaseException) else (err.__cause__ or context)
    return None
