"""``vkan.KAN``: efficient-kan's ``KAN`` network with vkan's layer, so ``from vkan import KAN`` is the whole switch."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from vkan.kan import ActivationArg, KANLinear, KANSpec


class KAN(nn.Module):
    """A stack of KANLinear layers with efficient-kan's constructor, ``forward`` and ``regularization_loss``.

    ``KAN([784, 64, 10])`` has layers 784 -> 64 -> 10 whose parameters and buffers have efficient-kan's names
    and shapes (``layers.0.spline_weight``, ...), so an efficient-kan state dict loads as it is. On CUDA
    each layer runs as vkan's fused Triton kernels. ``exact_efficient_kan=True`` makes ``update_grid``
    reproduce efficient-kan to the bit in what it stores (see ``KANLinear.update_grid``); the default keeps
    each layer's function through the grid update instead.
    """

    def __init__(self, layers_hidden: Sequence[int], grid_size: int = 5, spline_order: int = 3,
                 scale_noise: float = 0.1, scale_base: float = 1.0, scale_spline: float = 1.0,
                 base_activation: ActivationArg = torch.nn.SiLU, grid_eps: float = 0.02,
                 grid_range: Sequence[float] = (-1, 1), *, exact_efficient_kan: bool = False) -> None:
        super().__init__()
        self.grid_size, self.spline_order = grid_size, spline_order
        self.exact_efficient_kan = exact_efficient_kan
        spec = KANSpec(grid_size=grid_size, spline_order=spline_order, scale_noise=scale_noise, scale_base=scale_base,
                       scale_spline=scale_spline, base_activation=base_activation, grid_eps=grid_eps,
                       grid_range=tuple(grid_range))
        self.layers = nn.ModuleList(KANLinear(i, o, spec) for i, o in zip(layers_hidden, layers_hidden[1:]))

    def forward(self, x: torch.Tensor, update_grid: bool = False) -> torch.Tensor:
        """(..., layers_hidden[0]) -> (..., layers_hidden[-1]); ``update_grid`` re-fits each layer's grid on the
        input it gets in this call, just before that layer runs (efficient-kan's behaviour)."""
        for layer in self.layers:
            if update_grid:
                layer.update_grid(x, exact_efficient_kan=self.exact_efficient_kan)
            x = layer(x)
        return x

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> torch.Tensor:
        """Sum over layers of efficient-kan's L1 + entropy penalty on the spline weights."""
        return sum(layer.regularization_loss(regularize_activation, regularize_entropy) for layer in self.layers)
