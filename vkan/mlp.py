"""KANMlp: a timm ``mlp_layer`` whose two linear maps are KANLinear layers."""
from __future__ import annotations

from typing import Any, Optional

import torch.nn as nn
from timm.layers import to_2tuple

from vkan.kan import KANLinear, KANSpec


class KANMlp(nn.Module):
    """``KANLinear(in, hidden) -> dropout -> [norm] -> KANLinear(hidden, out) -> dropout``.

    Takes timm's ``Mlp`` call (``in_features, hidden_features, out_features, act_layer, norm_layer, bias,
    drop``, plus ``device``/``dtype``); the KAN settings come as ``spec`` (a ``KANSpec``) and/or KANSpec
    fields as keywords, usually fixed with ``functools.partial``. ``act_layer`` and ``bias`` are timm's
    choices for an MLP and are ignored: a KAN edge has its own ``base_activation``, and its bias is the
    spec's ``bias``. ``kan_hidden``, when set, overrides timm's ``hidden_features`` (``dim * mlp_ratio``),
    which is how the parameter-matched width reaches every block. Input (..., in) -> output (..., out).
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
        use_conv: bool = False,
        device=None,
        dtype=None,
        *,
        spec: Optional[KANSpec] = None,
        kan_hidden: Optional[int] = None,
        **kan_options: Any,
    ) -> None:
        super().__init__()
        if use_conv:
            raise ValueError("KANMlp works on (..., features) tokens; use_conv=True is not supported")
        spec = KANSpec.of(spec, **kan_options)
        out_features = out_features or in_features
        hidden_features = kan_hidden or hidden_features or in_features
        drop_probs = to_2tuple(drop)
        self.fc1 = KANLinear(in_features, hidden_features, spec, device=device, dtype=dtype)
        self.drop1 = nn.Dropout(drop_probs[0])
        self.norm = norm_layer(hidden_features, device=device, dtype=dtype) if norm_layer else nn.Identity()
        self.fc2 = KANLinear(hidden_features, out_features, spec, device=device, dtype=dtype)
        self.drop2 = nn.Dropout(drop_probs[1])

    def forward(self, x):
        x = self.drop1(self.fc1(x))  # (..., hidden)
        x = self.norm(x)
        return self.drop2(self.fc2(x))  # (..., out)
