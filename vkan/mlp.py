"""KANMlp: a timm ``mlp_layer`` whose two linear maps are KANLinear layers."""
from __future__ import annotations

from typing import Optional, Sequence

import torch.nn as nn
from timm.layers import to_2tuple

from vkan.kan import ActivationArg, KANLinear


class KANMlp(nn.Module):
    """``KANLinear(in, hidden) -> dropout -> [norm] -> KANLinear(hidden, out) -> dropout``.

    Takes timm's ``Mlp`` call (``in_features, hidden_features, out_features, act_layer, norm_layer, bias,
    drop``, plus ``device``/``dtype``); fix the KAN settings with ``functools.partial``. ``act_layer`` and
    ``bias`` are timm's choices for an MLP and are ignored: a KAN edge has its own ``base_activation``,
    and its bias is ``kan_bias``. ``kan_hidden``, when set, overrides timm's ``hidden_features``
    (``dim * mlp_ratio``), which is how the parameter-matched width reaches every block.
    Input (..., in) -> output (..., out).
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: Optional[int] = None,
        out_features: Optional[int] = None,
        act_layer=None,
        norm_layer=None,
        bias=True,
        drop=0.0,
        *,
        kan_hidden: Optional[int] = None,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: Sequence[float] = (-1.0, 1.0),
        base_activation: ActivationArg = nn.SiLU,
        enable_standalone_scale_spline: bool = True,
        kan_bias: bool = False,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        grid_eps: float = 0.02,
        use_conv: bool = False,
        device=None,
        dtype=None,
        **kwargs,
    ) -> None:
        super().__init__()
        if use_conv:
            raise ValueError("KANMlp works on (..., features) tokens; use_conv=True is not supported")
        out_features = out_features or in_features
        hidden_features = kan_hidden or hidden_features or in_features
        drop_probs = to_2tuple(drop)
        kan = dict(
            grid_size=grid_size, spline_order=spline_order, grid_range=grid_range,
            base_activation=base_activation, enable_standalone_scale_spline=enable_standalone_scale_spline,
            bias=kan_bias, scale_noise=scale_noise, scale_base=scale_base, scale_spline=scale_spline,
            grid_eps=grid_eps, device=device, dtype=dtype,
        )
        self.fc1 = KANLinear(in_features, hidden_features, **kan)
        self.drop1 = nn.Dropout(drop_probs[0])
        self.norm = norm_layer(hidden_features, device=device, dtype=dtype) if norm_layer else nn.Identity()
        self.fc2 = KANLinear(hidden_features, out_features, **kan)
        self.drop2 = nn.Dropout(drop_probs[1])

    def forward(self, x):
        x = self.drop1(self.fc1(x))  # (..., hidden)
        x = self.norm(x)
        return self.drop2(self.fc2(x))  # (..., out)
