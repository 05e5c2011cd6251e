"""Dispatch of KANLinear's spline matmul to the fused Triton kernel (CUDA) or the reference path."""
from __future__ import annotations

import torch


def fused_supported(layer, x: torch.Tensor) -> bool:
    """Whether the fused kernel can run this layer on this input (no fused kernel yet: never)."""
    return False


def fused_spline_linear(x, grid, weight, spline_order):  # pragma: no cover - replaced by the kernel
    raise NotImplementedError("the fused KAN kernel is not built yet")
