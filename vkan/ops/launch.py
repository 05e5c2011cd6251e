"""Kernel launches by the kernels' own parameter names: each launch's arguments are bound once per layer shape
(``Launcher.bind``), checked against the kernel's signature, and a training step passes only its tensors, by name.

Inside a ``torch.library.triton_op`` body (``traced_launches``) launches go through ``wrap_triton``, so that
``torch.compile`` sees the kernels; elsewhere they are Triton's own ``kernel[grid](...)``. (An earlier direct
call of Triton's compiled launcher was removed: side by side it gained 0-2.5 % of a ViT-tiny training step's
img/s, under the 5 % that would justify private Triton APIs; bench/RESULTS.md.)
"""
from __future__ import annotations

import contextlib
from typing import Iterator, NamedTuple, Optional, Sequence, Tuple

import torch

_traced = False  # True inside a torch.library.triton_op body: launches are recorded through wrap_triton


@contextlib.contextmanager
def traced_launches(enabled: bool = True) -> Iterator[None]:
    """Within this block launches go through ``torch.library.wrap_triton``, so that ``torch.compile``
    (a ``triton_op``) sees the kernels themselves; outside a trace ``wrap_triton`` launches them as Triton does."""
    global _traced
    previous, _traced = _traced, enabled
    try:
        yield
    finally:
        _traced = previous


class BoundLaunch(NamedTuple):
    """Everything of one kernel launch but its tensors: built once per layer shape by ``Launcher.bind``."""

    grid: Tuple[int, ...]
    scalars: Tuple  # the kernel's non-tensor arguments, in its parameter order
    num_warps: int
    num_stages: int


class Launcher:
    """Launches one ``@triton.jit`` kernel whose parameters are its tensors first, then everything else.

    Arguments are given by the kernel's own parameter names: ``bind`` checks the scalar names against the
    kernel's signature once per shape, and a launch passes the tensors by name, so adding or reordering a
    kernel parameter cannot silently shift the others.
    """

    def __init__(self, kernel, tensors: Sequence[str]) -> None:
        names = tuple(kernel.arg_names)
        if names[:len(tensors)] != tuple(tensors):
            raise ValueError(f"{getattr(kernel, '__name__', kernel)} starts with {names[:len(tensors)]}, "
                             f"not the tensors {tuple(tensors)}")
        self.kernel = kernel
        self.tensor_names, self.scalar_names = tuple(tensors), names[len(tensors):]

    def bind(self, grid: Tuple[int, ...], num_warps: int = 4, num_stages: int = 3, **scalars) -> BoundLaunch:
        """A launch of ``grid`` with the kernel's non-tensor arguments given by name (ints, bools, constexprs)."""
        if set(scalars) != set(self.scalar_names):
            missing, extra = set(self.scalar_names) - set(scalars), set(scalars) - set(self.scalar_names)
            raise TypeError(f"{getattr(self.kernel, '__name__', 'kernel')}: missing arguments {sorted(missing)}, "
                            f"unknown arguments {sorted(extra)}")
        return BoundLaunch(tuple(grid), tuple(scalars[n] for n in self.scalar_names), num_warps, num_stages)

    def arguments(self, launch: BoundLaunch) -> dict:
        """``launch``'s non-tensor arguments by name (its tiles: ``arguments(launch)["BN"]``)."""
        return dict(zip(self.scalar_names, launch.scalars))

    def rebind(self, launch: BoundLaunch, grid: Optional[Tuple[int, ...]] = None, num_warps: Optional[int] = None,
               num_stages: Optional[int] = None, **changes) -> BoundLaunch:
        """``launch`` with some arguments changed by name (tile sweeps in ``bench/kernel_breakdown.py``)."""
        scalars = {**self.arguments(launch), **changes}
        return self.bind(grid or launch.grid, num_warps or launch.num_warps, num_stages or launch.num_stages,
                         **scalars)

    def __call__(self, launch: BoundLaunch, **tensors: torch.Tensor) -> None:
        """``kernel[grid](*tensors, *scalars)`` with the tensors given by parameter name."""
        args = tuple(tensors[n] for n in self.tensor_names)
        grid, scalars, num_warps, num_stages = launch
        kernel = torch.library.wrap_triton(self.kernel) if _traced else self.kernel
        kernel[grid](*args, *scalars, num_warps=num_warps, num_stages=num_stages)
