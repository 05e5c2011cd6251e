"""Low-overhead Triton launches: after Triton's own first launch of a kernel for an argument signature,
later launches with that signature call the compiled kernel's launcher directly.

Why: ``kernel[grid](*args)`` re-binds and re-specialises every argument in Python before it launches; a
KANLinear training step makes five launches, and the small layers of a ViT are host-bound. On the H200
machine one launch cost 29-43 us of host time through Triton and 25-29 us directly (bench/RESULTS.md).
The direct call skips that work and nothing else: the same compiled kernel, launcher and stream.
Inside a ``torch.library.triton_op`` body (``traced_launches``) launches go through ``wrap_triton``
instead, so that ``torch.compile`` sees the kernels.

Correctness rests on two facts, both checked here rather than assumed:

- the cache key is at least as fine as Triton's specialisation: every non-tensor argument by exact value,
  every tensor by dtype and 16-byte alignment (what Triton specialises pointers on), plus device and
  launch options; a key seen for the first time always goes through Triton;
- the launcher's calling convention is the one the installed Triton uses itself: the source of
  ``JITFunction.run`` is read once, and if it does not launch the way this module does (another Triton
  version), every launch goes through Triton as before.

Launch hooks (Triton's profiler) and ``VKAN_DIRECT_LAUNCH=0`` also turn the direct path off.
"""
from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Dict, Iterator, NamedTuple, Optional, Sequence, Tuple

import torch

# The launch statement of triton.runtime.jit.JITFunction.run that the direct path reproduces (checked: 3.6, 3.8).
_TRITON_LAUNCH = re.compile(
    r"kernel\.run\(\s*grid_0,\s*grid_1,\s*grid_2,\s*stream,\s*kernel\.function,\s*kernel\.packed_metadata,"
    r"\s*launch_metadata,\s*[\w.]*launch_enter_hook,\s*[\w.]*launch_exit_hook,\s*\*bound_args\.values\(\)\s*\)")

_direct: Optional[bool] = None  # decided on the first launch
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


def triton_launch_matches(source: str) -> bool:
    """Whether a ``JITFunction.run`` source launches with the convention the direct path uses."""
    return _TRITON_LAUNCH.search(source) is not None and "bound_args, specialization, options = binder(" in source


def direct_launch_enabled() -> bool:
    """Whether launches may bypass Triton's per-call binding (decided once per process)."""
    global _direct
    if _direct is None:
        _direct = False
        if os.environ.get("VKAN_DIRECT_LAUNCH", "1") != "0" and os.environ.get("TRITON_INTERPRET", "0") != "1":
            try:
                import inspect

                from triton.runtime.jit import JITFunction

                _direct = triton_launch_matches(inspect.getsource(JITFunction.run))
            except (ImportError, OSError, TypeError):
                _direct = False
    return _direct


def _hook_active(hook) -> bool:
    """Whether a Triton launch hook would do anything (3.8 keeps empty ``HookChain`` objects, older ones None)."""
    return hook is not None and bool(getattr(hook, "calls", True))


def hooks_active() -> bool:
    """Whether a launch hook (e.g. Triton's profiler) is installed: such launches go through Triton."""
    try:
        from triton import knobs
    except ImportError:
        return False
    return _hook_active(knobs.runtime.launch_enter_hook) or _hook_active(knobs.runtime.launch_exit_hook)


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
        self.cache: Dict[Tuple, Tuple[Any, Any, Any]] = {}  # key -> (launcher, function handle, metadata)
        self.direct_calls = 0  # launches that skipped Triton's binding (tests read it)

    def bind(self, grid: Tuple[int, ...], num_warps: int = 4, num_stages: int = 3, **scalars) -> BoundLaunch:
        """A launch of ``grid`` with the kernel's non-tensor arguments given by name (ints, bools, constexprs)."""
        if set(scalars) != set(self.scalar_names):
            missing, extra = set(self.scalar_names) - set(scalars), set(scalars) - set(self.scalar_names)
            raise TypeError(f"{getattr(self.kernel, '__name__', 'kernel')}: missing arguments {sorted(missing)}, "
                            f"unknown arguments {sorted(extra)}")
        return BoundLaunch(tuple(grid), tuple(scalars[n] for n in self.scalar_names), num_warps, num_stages)

    def rebind(self, launch: BoundLaunch, grid: Optional[Tuple[int, ...]] = None, num_warps: Optional[int] = None,
               num_stages: Optional[int] = None, **changes) -> BoundLaunch:
        """``launch`` with some arguments changed by name (tile sweeps in ``bench/kernel_breakdown.py``)."""
        scalars = {**dict(zip(self.scalar_names, launch.scalars)), **changes}
        return self.bind(grid or launch.grid, num_warps or launch.num_warps, num_stages or launch.num_stages,
                         **scalars)

    def __call__(self, launch: BoundLaunch, **tensors: torch.Tensor) -> None:
        """``kernel[grid](*tensors, *scalars)`` with the tensors given by parameter name."""
        args = tuple(tensors[n] for n in self.tensor_names)
        grid, scalars, num_warps, num_stages = launch
        if _traced:
            torch.library.wrap_triton(self.kernel)[grid](*args, *scalars, num_warps=num_warps, num_stages=num_stages)
            return
        if not direct_launch_enabled() or hooks_active():
            self.kernel[grid](*args, *scalars, num_warps=num_warps, num_stages=num_stages)
            return
        device = torch.cuda.current_device()
        # everything Triton specialises on, at least as finely: exact scalars, tensor dtype and 16-byte alignment
        key = (device, num_warps, num_stages, scalars, *[(t.dtype, t.data_ptr() % 16 == 0) for t in args])
        entry = self.cache.get(key)
        if entry is None:  # first launch of this signature: Triton binds, compiles or loads, and launches
            compiled = self.kernel[grid](*args, *scalars, num_warps=num_warps, num_stages=num_stages)
            if compiled is not None:
                self.cache[key] = (compiled.run, compiled.function, compiled.packed_metadata)
            return
        run, function, metadata = entry
        run(grid[0], grid[1] if len(grid) > 1 else 1, grid[2] if len(grid) > 2 else 1,
            torch._C._cuda_getCurrentRawStream(device), function, metadata, None, None, None, *args, *scalars)
        self.direct_calls += 1
