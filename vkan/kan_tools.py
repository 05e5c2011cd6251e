"""Model-level helpers over every KANLinear in a model: listing, regularization, grid updates, decay groups."""
from __future__ import annotations

import fnmatch
from typing import Callable, Iterable, Iterator, List, Tuple

import torch
import torch.nn as nn

from vkan.kan import KANLinear


def kan_layers(model: nn.Module) -> Iterator[Tuple[str, KANLinear]]:
    """Yield ``(qualified_name, layer)`` for every KANLinear in ``model``, in module order."""
    for name, module in model.named_modules():
        if isinstance(module, KANLinear):
            yield name, module


def kan_regularization_loss(model: nn.Module, regularize_activation: float = 1.0,
                            regularize_entropy: float = 1.0) -> torch.Tensor:
    """Sum of every KAN layer's L1 + entropy penalty (a scalar; 0 for a model without KAN layers)."""
    losses = [layer.regularization_loss(regularize_activation, regularize_entropy) for _, layer in kan_layers(model)]
    if not losses:
        return torch.zeros((), device=next(model.parameters()).device)
    return torch.stack(losses).sum()


@torch.no_grad()
def forward_with_kan_inputs(model: nn.Module, batch: torch.Tensor, fn: Callable[[str, KANLinear, torch.Tensor], None]) -> int:
    """One eval-mode ``model(batch)`` that calls ``fn(name, layer, x)`` with each KAN layer's (N, in) input
    just before that layer runs; restores the training mode. Returns the number of KAN layers."""
    layers = list(kan_layers(model))
    handles = [layer.register_forward_pre_hook(lambda m, args, n=name: fn(n, m, args[0].reshape(-1, m.in_features)))
               for name, layer in layers]
    was_training = model.training
    model.eval()
    try:
        model(batch)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return len(layers)


def update_grids(model: nn.Module, batch: torch.Tensor, margin: float = 0.01, max_samples: int = 4096) -> int:
    """Re-fit every KAN layer's grid on the inputs it actually sees when ``model(batch)`` runs.

    One eval-mode forward with a pre-hook on each KANLinear: a layer is re-fitted on its own input before
    it runs, so later layers see inputs from already-updated layers (which compute nearly the same
    function). At most ``max_samples`` rows of each layer's (N, in) input are used, taken at even strides
    so that the update draws no random numbers. Returns the number of layers updated.
    """
    def refit(name: str, layer: KANLinear, x: torch.Tensor) -> None:
        if x.shape[0] > max_samples:
            x = x[torch.linspace(0, x.shape[0] - 1, max_samples, device=x.device).long()]
        layer.update_grid(x, margin=margin)

    return forward_with_kan_inputs(model, batch, refit)


# Parameters exempt from weight decay in every KAN layer (fnmatch patterns on full names). base_weight and
# spline_weight are the layer's linear maps and decay like any weight matrix; spline_scaler is a per-edge gain
# multiplying spline_weight (decaying both factors of a product penalises it twice), so it is exempt.
KAN_NO_WEIGHT_DECAY = ("*spline_scaler",)


def param_groups(model: nn.Module, weight_decay: float, no_decay_patterns: Iterable[str] = ()) -> List[dict]:
    """Optimizer groups: decay every tensor of ndim >= 2 except biases, norm gains, ``model.no_weight_decay()``
    names and ``no_decay_patterns`` (fnmatch); KAN ``spline_scaler`` is exempt through the model's list."""
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    patterns = list(no_decay_patterns) + list(KAN_NO_WEIGHT_DECAY)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = param.ndim <= 1 or name.endswith(".bias") or name in skip
        exempt = exempt or any(fnmatch.fnmatch(name, p) for p in patterns)
        (no_decay if exempt else decay).append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
