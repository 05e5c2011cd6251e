"""``vkan::spline_linear``: the fused spline matmul as a torch custom op with its autograd formula.

Registered through ``torch.library`` so that ``torch.compile`` treats it as one opaque node (no graph
break) and autograd calls the fused backward; eager mode calls the same launchers through a plain
``autograd.Function`` (less dispatcher overhead). Launch parameters are fixed per shape class (no
autotuning: results are deterministic and the first call compiles only one variant).
"""
from __future__ import annotations

import os
from typing import Tuple

import torch

from vkan.ops import triton_kan as tk


def padded_coefs(n_coef: int) -> int:
    """Coefficient axis padded to a power of two (>= 2) for the kernels' tiles."""
    return max(2, 1 << (n_coef - 1).bit_length())


def _cdiv(a: int, b: int) -> int:
    """Ceil division in plain Python (``triton.cdiv`` costs ~5 us per host call through its JIT wrapper)."""
    return -(-a // b)


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _precision(dtype: torch.dtype) -> str:
    if dtype == torch.float32 and not torch.backends.cuda.matmul.allow_tf32:
        return "ieee"
    return "tf32"


def _inputs_per_step(cp: int, rows: int) -> int:
    """Inputs per k-step (BI) so that a step covers ``rows`` = 64 or 128 spline rows (BK = BI * CP; tile
    sweep on an H200 in bench/RESULTS.md); at least one input."""
    return max(rows, cp) // cp


def _stages(dtype: torch.dtype) -> int:
    return 3 if dtype != torch.float32 else 2  # fp32 tiles take twice the shared memory


def _dims(x: torch.Tensor, wp: torch.Tensor) -> Tuple[int, int, int, int]:
    """(M, I, O, CP) of an input (M, I) and a kernel-layout weight (I*CP, O)."""
    m, n_in = x.shape
    return m, n_in, wp.shape[1], wp.shape[0] // n_in


def _meta(grid: torch.Tensor, cp: int, k: int, uniform: bool, dtype: torch.dtype) -> dict:
    """Compile-time parameters shared by the three kernels."""
    return dict(Q=grid.shape[1], CP=cp, K=k, UNIFORM=uniform, PRECISION=_precision(dtype), num_stages=_stages(dtype))


def _launch_fwd(x, grid, aux, wp, k: int, uniform: bool) -> torch.Tensor:
    m, n_in, n_out, cp = _dims(x, wp)
    y = torch.empty((m, n_out), device=x.device, dtype=wp.dtype)
    bi = _inputs_per_step(cp, 64)
    bm, bn, warps = (16, 16, 4) if _interpreting() else (64, 128 if n_out <= 128 else 256, 4)
    launch = (_cdiv(m, bm), _cdiv(n_out, bn))
    tk.spline_fwd_kernel[launch](x, grid, aux, wp, y, m, n_in, n_out, x.stride(0), wp.stride(0), y.stride(0),
                                 BM=bm, BN=bn, BI=bi, num_warps=warps, **_meta(grid, cp, k, uniform, wp.dtype))
    return y


def _launch_dx(gy, x, grid, aux, wp, k: int, uniform: bool) -> torch.Tensor:
    m, n_in, n_out, cp = _dims(x, wp)
    wt = wp.t().contiguous()  # (O, I*CP)
    dx = torch.empty_like(x)
    bi = _inputs_per_step(cp, 64 if _interpreting() else 128)
    bm, bo, warps = (16, 16, 4) if _interpreting() else (128, 64, 8)
    launch = (_cdiv(m, bm), _cdiv(n_in, bi))
    tk.spline_dx_kernel[launch](gy, x, grid, aux, wt, dx, m, n_in, n_out, gy.stride(0), x.stride(0), wt.stride(0),
                                dx.stride(0), BM=bm, BO=bo, BI=bi, num_warps=warps, **_meta(grid, cp, k, uniform, wp.dtype))
    return dx


def _launch_dw(gy, x, grid, aux, wp, k: int, uniform: bool) -> torch.Tensor:
    m, n_in, n_out, cp = _dims(x, wp)
    bi = _inputs_per_step(cp, 64)
    bm, bn, warps = (16, 16, 4) if _interpreting() else (64, 128 if n_out <= 128 else 256, 4)
    tiles = _cdiv(n_in, bi) * _cdiv(n_out, bn)
    # enough programs for ~2 waves of the H200's 132 SMs, but each split keeps >= 4 row blocks
    split = 2 if _interpreting() else max(1, min(_cdiv(264, tiles), _cdiv(m, 4 * bm)))
    part = torch.empty((split, n_in * cp, n_out), device=x.device, dtype=torch.float32)
    launch = (_cdiv(n_in, bi), _cdiv(n_out, bn), split)
    tk.spline_dw_kernel[launch](gy, x, grid, aux, part, m, n_in, n_out, gy.stride(0), x.stride(0), part.stride(1),
                                part.stride(0), BM=bm, BN=bn, BI=bi, SPLIT=split, num_warps=warps,
                                **_meta(grid, cp, k, uniform, wp.dtype))
    return part.sum(0).to(wp.dtype)


@torch.library.custom_op("vkan::spline_linear", mutates_args=())
def spline_linear(x: torch.Tensor, grid: torch.Tensor, aux: torch.Tensor, wp: torch.Tensor, spline_order: int,
                  uniform: bool) -> torch.Tensor:
    """x (M, I) any float dtype, grid (I, Q) fp32, aux (2, I) = [t_0; 1/h], wp (I*CP, O) -> (M, O), wp's dtype."""
    return _launch_fwd(x, grid, aux, wp, spline_order, uniform)


@spline_linear.register_fake
def _(x, grid, aux, wp, spline_order, uniform):
    return x.new_empty((x.shape[0], wp.shape[1]), dtype=wp.dtype)


@torch.library.custom_op("vkan::spline_linear_backward", mutates_args=())
def spline_linear_backward(gy: torch.Tensor, x: torch.Tensor, grid: torch.Tensor, aux: torch.Tensor,
                           wp: torch.Tensor, spline_order: int, uniform: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """Gradients (dx (M, I) in x's dtype, dwp (I*CP, O) in wp's dtype) of ``spline_linear``."""
    gy = gy.contiguous()
    dx = _launch_dx(gy, x, grid, aux, wp, spline_order, uniform)
    return dx, _launch_dw(gy, x, grid, aux, wp, spline_order, uniform)


@spline_linear_backward.register_fake
def _(gy, x, grid, aux, wp, spline_order, uniform):
    return torch.empty_like(x), torch.empty_like(wp)


def _setup_context(ctx, inputs, output):
    x, grid, aux, wp, spline_order, uniform = inputs
    ctx.save_for_backward(x, grid, aux, wp)
    ctx.spline_order, ctx.uniform = spline_order, uniform


def _backward(ctx, gy):
    x, grid, aux, wp = ctx.saved_tensors
    dx, dwp = torch.ops.vkan.spline_linear_backward(gy, x, grid, aux, wp, ctx.spline_order, ctx.uniform)
    return dx, None, None, dwp, None, None


spline_linear.register_autograd(_backward, setup_context=_setup_context)


def fused_spline_linear(x: torch.Tensor, grid: torch.Tensor, weight: torch.Tensor, spline_order: int,
                        uniform: bool = False) -> torch.Tensor:
    """Spline part of KANLinear, fused: x (N, in), grid (in, Q), weight (out, in, C) -> (N, out).

    ``uniform=True`` promises equally spaced knots in every row of ``grid`` and selects the closed-form
    bases; ``False`` is right for any grid.
    Under autocast the matmul runs in the autocast dtype (the output has that dtype, like ``F.linear``);
    otherwise in ``weight``'s dtype. ``weight`` is the scaled spline weight and stays differentiable:
    padding and transposition to the kernel layout are ordinary torch ops.
    """
    n_out, n_in, n_coef = weight.shape
    cp = padded_coefs(n_coef)
    dtype = weight.dtype
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
    w = weight.to(dtype)
    if cp != n_coef:
        w = torch.nn.functional.pad(w, (0, cp - n_coef))
    wp = w.permute(1, 2, 0).reshape(n_in * cp, n_out).contiguous()  # (I*CP, O)
    grid = grid.float().contiguous()
    aux = torch.stack([grid[:, 0], 1.0 / (grid[:, 1] - grid[:, 0])])  # (2, I): t_0 and 1/h per input
    if torch.compiler.is_compiling():
        return torch.ops.vkan.spline_linear(x.contiguous(), grid, aux, wp, spline_order, uniform)
    return _EagerSplineLinear.apply(x.contiguous(), grid, aux, wp, spline_order, uniform)


class _EagerSplineLinear(torch.autograd.Function):
    """The same kernels as ``vkan::spline_linear`` without the custom-op dispatcher, for eager mode."""

    @staticmethod
    def forward(ctx, x, grid, aux, wp, spline_order, uniform):
        ctx.save_for_backward(x, grid, aux, wp)
        ctx.spline_order, ctx.uniform = spline_order, uniform
        return _launch_fwd(x, grid, aux, wp, spline_order, uniform)

    @staticmethod
    def backward(ctx, gy):
        x, grid, aux, wp = ctx.saved_tensors
        gy = gy.contiguous()
        dx = _launch_dx(gy, x, grid, aux, wp, ctx.spline_order, ctx.uniform) if ctx.needs_input_grad[0] else None
        dwp = _launch_dw(gy, x, grid, aux, wp, ctx.spline_order, ctx.uniform) if ctx.needs_input_grad[3] else None
        return dx, None, None, dwp, None, None
