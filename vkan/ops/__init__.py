"""Dispatch of KANLinear to the Triton kernels (CUDA; fused or GEMM path, ``kan_op.PATHS``) or the PyTorch
reference."""
from __future__ import annotations

import importlib.util
from typing import Optional

import torch
import torch.nn as nn

FUSED_ORDERS = (1, 2, 3)  # spline orders the kernel is written for; others use the reference path
PATHS = ("auto", "auto-keep", "fused", "gemm", "gemm-keep")  # KANLinear.kernel_path's choices: see vkan.ops.kan_op
FUSED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)

# Base activations the kernels evaluate themselves (code passed to the kernels); any other activation
# keeps the base branch in PyTorch and fuses the spline part only.
ACTIVATION_CODES = {nn.Identity: 0, nn.SiLU: 1, nn.ReLU: 2, nn.GELU: 3, nn.Tanh: 4}

# Whether Triton is installed (it ships with CUDA builds of torch). Looked up once, without importing it,
# so that CPU-only users pay nothing and torch.compile sees a constant.
TRITON_AVAILABLE = importlib.util.find_spec("triton") is not None


def kernel_activation(module: nn.Module) -> Optional[int]:
    """The kernels' code for a base activation module, or None when the kernels do not have it."""
    code = ACTIVATION_CODES.get(type(module))
    if code == 3 and getattr(module, "approximate", "none") != "none":
        return None  # tanh-approximated GELU: not in the kernels
    return code


def fused_supported(layer, x: torch.Tensor) -> bool:
    """Whether the fused kernel runs this layer on this input: CUDA tensors, order 1-3, float dtypes."""
    return (
        x.is_cuda
        and layer.spline_order in FUSED_ORDERS
        and x.dtype in FUSED_DTYPES
        and layer.spline_weight.dtype in FUSED_DTYPES
        and TRITON_AVAILABLE
    )


def fused_kan_linear(x, grid, spline_weight, spline_scaler=None, base_weight=None, spline_order=3, uniform=False,
                     act=1, path="auto") -> torch.Tensor:
    """KAN layer ``B(x) @ (spline_weight * spline_scaler)^T + act(x) @ base_weight^T`` on the Triton kernels;
    ``path``: one of ``kan_op.PATHS`` ("auto", "auto-keep", "fused", "gemm", "gemm-keep"). See ``kan_op``."""
    global _fused_run
    if _fused_run is None:  # imported on first use: CPU-only users never import Triton
        from vkan.ops.kan_op import fused_kan_linear as _fused_run
    return _fused_run(x, grid, spline_weight, spline_scaler, base_weight, spline_order, uniform, act, path)


_fused_run = None  # vkan.ops.kan_op.fused_kan_linear once imported


def fused_spline_linear(x: torch.Tensor, grid: torch.Tensor, weight: torch.Tensor, spline_order: int,
                        uniform: bool = False, path: str = "auto") -> torch.Tensor:
    """Fused spline part only, ``B(x) @ weight``: x (N, in), grid (in, Q), weight (out, in, C) -> (N, out)."""
    return fused_kan_linear(x, grid, weight, None, None, spline_order, uniform, path=path)
