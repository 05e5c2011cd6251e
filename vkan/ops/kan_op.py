"""``vkan::spline_linear``: the fused spline matmul as a torch custom op with its autograd formula.

Registered through ``torch.library`` so that ``torch.compile`` treats it as one opaque node (no graph
break) and autograd calls the fused backward. Launch parameters are fixed per shape class (no
autotuning: results are deterministic and the first call compiles only one variant).
"""
from __future__ import annotations

import os
from typing import Tuple

import torch
import triton

from vkan.ops import triton_kan as tk


def padded_coefs(n_coef: int) -> int:
    """Coefficient axis padded to a power of two (>= 2) for the kernels' tiles."""
    return max(2, triton.next_power_of_2(n_coef))


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _precision(dtype: torch.dtype) -> str:
    if dtype == torch.float32 and not torch.backends.cuda.matmul.allow_tf32:
        return "ieee"
    return "tf32"


def _tiles(cp: int, small: bool) -> Tuple[int, int]:
    """(BI, BK = BI * CP): 64 or 128 spline rows per k-step (tile sweep on an H200: bench/RESULTS.md)."""
    bk = 64 if small else 128
    bk = max(bk, cp)  # one input per k-step at least; BK >= 16 holds since bk >= 64
    return bk // cp, bk


def _stages(dtype: torch.dtype) -> int:
    return 3 if dtype != torch.float32 else 2  # fp32 tiles take twice the shared memory


def _launch_fwd(x, grid, weight, k: int, uniform: bool, dtype: torch.dtype) -> torch.Tensor:
    m, n_in = x.shape
    n_out, _, n_coef = weight.shape
    cp = padded_coefs(n_coef)
    y = torch.empty((m, n_out), device=x.device, dtype=dtype)
    bi, _ = _tiles(cp, small=True)
    bm, bn, warps = (16, 16, 4) if _interpreting() else (64, 128 if n_out <= 128 else 256, 4)
    launch = (triton.cdiv(m, bm), triton.cdiv(n_out, bn))
    tk.spline_fwd_kernel[launch](x, grid, weight, y, m, n_in, n_out, x.stride(0), y.stride(0),
                                 Q=grid.shape[1], C=n_coef, CP=cp, K=k, UNIFORM=uniform, BM=bm, BN=bn, BI=bi,
                                 PRECISION=_precision(dtype), num_warps=warps, num_stages=_stages(dtype))
    return y


def _launch_dx(gy, x, grid, weight, k: int, uniform: bool) -> torch.Tensor:
    m, n_in = x.shape
    n_out, _, n_coef = weight.shape
    cp = padded_coefs(n_coef)
    dx = torch.empty_like(x)
    bi, _ = _tiles(cp, small=_interpreting())
    bm, bo, warps = (16, 16, 4) if _interpreting() else (128, 64, 8)
    launch = (triton.cdiv(m, bm), triton.cdiv(n_in, bi))
    tk.spline_dx_kernel[launch](gy, x, grid, weight, dx, m, n_in, n_out, gy.stride(0), x.stride(0), dx.stride(0),
                                Q=grid.shape[1], C=n_coef, CP=cp, K=k, UNIFORM=uniform, BM=bm, BO=bo, BI=bi,
                                PRECISION=_precision(gy.dtype), num_warps=warps, num_stages=_stages(gy.dtype))
    return dx


def _launch_dw(gy, x, grid, weight, k: int, uniform: bool) -> torch.Tensor:
    """Gradient of the (O, I, C) spline weight, in its dtype."""
    m, n_in = x.shape
    n_out, _, n_coef = weight.shape
    cp = padded_coefs(n_coef)
    bi, _ = _tiles(cp, small=True)
    bm, bn, warps = (16, 16, 4) if _interpreting() else (64, 128 if n_out <= 128 else 256, 4)
    tiles = triton.cdiv(n_in, bi) * triton.cdiv(n_out, bn)
    # enough programs for ~2 waves of the H200's 132 SMs, but each split keeps >= 4 row blocks
    split = 2 if _interpreting() else max(1, min(triton.cdiv(264, tiles), triton.cdiv(m, 4 * bm)))
    part = torch.empty((split, n_in * cp, n_out), device=x.device, dtype=torch.float32)
    launch = (triton.cdiv(n_in, bi), triton.cdiv(n_out, bn), split)
    tk.spline_dw_kernel[launch](gy, x, grid, part, m, n_in, n_out, gy.stride(0), x.stride(0), part.stride(1),
                                part.stride(0), Q=grid.shape[1], CP=cp, K=k, UNIFORM=uniform, BM=bm, BN=bn, BI=bi,
                                SPLIT=split, PRECISION=_precision(gy.dtype), num_warps=warps,
                                num_stages=_stages(gy.dtype))
    dw = part.sum(0).view(n_in, cp, n_out)[:, :n_coef]  # (I, C, O)
    return dw.permute(2, 0, 1).to(weight.dtype)


@torch.library.custom_op("vkan::spline_linear", mutates_args=())
def spline_linear(x: torch.Tensor, grid: torch.Tensor, weight: torch.Tensor, spline_order: int, uniform: bool,
                  dtype: str) -> torch.Tensor:
    """x (M, I), grid (I, Q) fp32, weight (O, I, C) contiguous -> (M, O) in ``torch.<dtype>``."""
    return _launch_fwd(x, grid, weight, spline_order, uniform, getattr(torch, dtype))


@spline_linear.register_fake
def _(x, grid, weight, spline_order, uniform, dtype):
    return x.new_empty((x.shape[0], weight.shape[0]), dtype=getattr(torch, dtype))


@torch.library.custom_op("vkan::spline_linear_backward", mutates_args=())
def spline_linear_backward(gy: torch.Tensor, x: torch.Tensor, grid: torch.Tensor, weight: torch.Tensor,
                           spline_order: int, uniform: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """Gradients (dx like x, dweight like weight) of ``spline_linear``."""
    gy = gy.contiguous()
    return _launch_dx(gy, x, grid, weight, spline_order, uniform), _launch_dw(gy, x, grid, weight, spline_order, uniform)


@spline_linear_backward.register_fake
def _(gy, x, grid, weight, spline_order, uniform):
    return torch.empty_like(x), torch.empty_like(weight)


def _setup_context(ctx, inputs, output):
    x, grid, weight, spline_order, uniform, _ = inputs
    ctx.save_for_backward(x, grid, weight)
    ctx.spline_order, ctx.uniform = spline_order, uniform


def _backward(ctx, gy):
    x, grid, weight = ctx.saved_tensors
    dx, dw = torch.ops.vkan.spline_linear_backward(gy, x, grid, weight, ctx.spline_order, ctx.uniform)
    return dx, None, dw, None, None, None


spline_linear.register_autograd(_backward, setup_context=_setup_context)


class _EagerSplineLinear(torch.autograd.Function):
    """The same kernels as ``vkan::spline_linear`` without the custom-op dispatcher, for eager mode."""

    @staticmethod
    def forward(ctx, x, grid, weight, spline_order, uniform, dtype):
        ctx.save_for_backward(x, grid, weight)
        ctx.spline_order, ctx.uniform = spline_order, uniform
        return _launch_fwd(x, grid, weight, spline_order, uniform, getattr(torch, dtype))

    @staticmethod
    def backward(ctx, gy):
        x, grid, weight = ctx.saved_tensors
        gy = gy.contiguous()
        dx = _launch_dx(gy, x, grid, weight, ctx.spline_order, ctx.uniform) if ctx.needs_input_grad[0] else None
        dw = _launch_dw(gy, x, grid, weight, ctx.spline_order, ctx.uniform) if ctx.needs_input_grad[2] else None
        return dx, None, dw, None, None, None


def fused_spline_linear(x: torch.Tensor, grid: torch.Tensor, weight: torch.Tensor, spline_order: int,
                        uniform: bool = False) -> torch.Tensor:
    """Spline part of KANLinear, fused: x (N, in), grid (in, Q), weight (out, in, C) -> (N, out).

    ``uniform=True`` promises equally spaced knots in every row of ``grid`` and selects the closed-form
    bases; ``False`` is right for any grid. Under autocast the matmul runs in the autocast dtype (the
    output has that dtype, like ``F.linear``), otherwise in ``weight``'s dtype; the kernels cast the
    weight tiles themselves, so no converted copy of the weight is made.
    """
    dtype = weight.dtype
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
    name = str(dtype).removeprefix("torch.")
    args = (x.contiguous(), grid.float().contiguous(), weight.contiguous(), spline_order, uniform, name)
    if torch.compiler.is_compiling():
        return torch.ops.vkan.spline_linear(*args)
    return _EagerSplineLinear.apply(*args)
