"""Dispatch of KANLinear's spline matmul to the fused Triton kernel (CUDA) or the PyTorch reference."""
from __future__ import annotations

import importlib.util

import torch

FUSED_ORDERS = (1, 2, 3)  # spline orders the kernel is written for; others use the reference path
FUSED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


# Whether Triton is installed (it ships with CUDA builds of torch). Looked up once, without importing it,
# so that CPU-only users pay nothing and torch.compile sees a constant.
TRITON_AVAILABLE = importlib.util.find_spec("triton") is not None


def triton_available() -> bool:
    """True when Triton is installed."""
    return TRITON_AVAILABLE


def fused_supported(layer, x: torch.Tensor) -> bool:
    """Whether the fused kernel runs this layer on this input: CUDA tensors, order 1-3, float dtypes."""
    return (
        x.is_cuda
        and layer.spline_order in FUSED_ORDERS
        and x.dtype in FUSED_DTYPES
        and layer.spline_weight.dtype in FUSED_DTYPES
        and triton_available()
    )


def fused_spline_linear(x: torch.Tensor, grid: torch.Tensor, weight: torch.Tensor, spline_order: int,
                        uniform: bool = False) -> torch.Tensor:
    """Fused ``B(x) @ weight``: x (N, in), grid (in, Q), weight (out, in, C) -> (N, out). See ``kan_op``."""
    from vkan.ops.kan_op import fused_spline_linear as run

    return run(x, grid, weight, spline_order, uniform)
