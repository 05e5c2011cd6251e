"""Model-level helpers over every KANLinear in a model: listing, regularization, grid updates, decay groups."""
from __future__ import annotations

import fnmatch
from typing import Callable, Iterator, List, Optional, Tuple

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


@torch.no_grad()
def copy_kan_grids(source: nn.Module, target: nn.Module) -> None:
    """Give every KAN layer of ``target`` the grid of the same layer in ``source`` (e.g. an EMA copy after a grid
    update: averaging knots would not give a grid the averaged coefficients belong to)."""
    for (_, src), (_, dst) in zip(kan_layers(source), kan_layers(target)):
        dst.grid.copy_(src.grid)
        dst.grid_uniform = src.grid_uniform


# Parameters exempt from weight decay in every KAN layer (fnmatch patterns on full names). base_weight and
# spline_weight are the layer's linear maps and decay like any weight matrix; spline_scaler is a per-edge gain
# multiplying spline_weight (decaying both factors of a product penalises it twice), so it is exempt.
# KanVisionTransformer.no_weight_decay() lists them, which is what timm's optimizer factory reads.
KAN_NO_WEIGHT_DECAY = ("*spline_scaler",)


# The spline branch of every KAN layer: what ``param_groups``' spline_lr_scale and spline_weight_decay act on
KAN_SPLINE_PARAMS = ("*spline_weight", "*spline_scaler")


def param_groups(model: nn.Module, weight_decay: float, spline_lr_scale: float = 1.0,
                 spline_weight_decay: Optional[float] = None) -> List[dict]:
    """timm's weight-decay groups (``timm.optim.param_groups_weight_decay``: no decay for tensors of
    ndim <= 1, biases and ``model.no_weight_decay()``), for any model: the KAN ``spline_scaler`` names
    are added to a model's own list when it has none of them (e.g. a plain ``nn.Sequential`` of KANLinear).

    ``spline_lr_scale`` (!= 1) or ``spline_weight_decay`` (not None) move the KAN layers' spline branch
    (``spline_weight``, ``spline_scaler``) into groups of their own: a learning rate of ``spline_lr_scale`` x the
    optimizer's (the group's ``lr_scale``, timm's name for it; ``vkan.train.build_optimizer`` applies it) and
    ``spline_weight_decay`` on ``spline_weight`` (default: ``weight_decay``; the scalers never decay)."""
    from timm.optim import param_groups_weight_decay

    named = list(model.named_parameters())
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    if not any(fnmatch.fnmatch(n, p) for n in skip for p in KAN_NO_WEIGHT_DECAY):
        skip |= {n for n, _ in named if any(fnmatch.fnmatch(n, p) for p in KAN_NO_WEIGHT_DECAY)}
    groups = param_groups_weight_decay(model, weight_decay, no_weight_decay_list=skip)
    if spline_lr_scale == 1.0 and spline_weight_decay is None:
        return groups
    spline = [(n, p) for n, p in named if p.requires_grad and any(fnmatch.fnmatch(n, pat) for pat in KAN_SPLINE_PARAMS)]
    moved = {id(p) for _, p in spline}
    kept = [{**group, "params": [p for p in group["params"] if id(p) not in moved]} for group in groups]
    spline_decay = weight_decay if spline_weight_decay is None else spline_weight_decay
    exempt_names = {n for n, _ in spline if any(fnmatch.fnmatch(n, s) for s in skip)}  # timm reads skip as patterns
    decayed = [p for n, p in spline if n not in exempt_names]  # spline_weight
    exempt = [p for n, p in spline if n in exempt_names]  # spline_scaler
    return [group for group in kept if group["params"]] + [
        {"params": params, "weight_decay": decay, "lr_scale": spline_lr_scale}
        for params, decay in ((decayed, spline_decay), (exempt, 0.0)) if params]
