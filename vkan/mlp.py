"""KANMlp: a timm ``mlp_layer`` whose two linear maps are KANLinear layers."""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn as nn
from timm.layers import to_2tuple

from vkan.kan import KANLinear, KANSpec
from vkan.ops import fused_kan_mlp


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
        y = self._one_op(x)
        if y is not None:
            return self.drop2(y)
        x = self.drop1(self.fc1(x))  # (..., hidden)
        x = self.norm(x)
        return self.drop2(self.fc2(x))  # (..., out)

    def _one_op(self, x: torch.Tensor) -> Optional[torch.Tensor]:
        """Both layers as one op (``vkan.ops.fused_kan_mlp``, whose backward runs the weight grads on a second CUDA
        stream beside the input grads), where nothing differs from calling them in turn: nothing between them (no
        norm, no active dropout), no bias, no hooks on either (``vkan.kan_tools``' grid re-fit hooks their inputs),
        both on the fused kernels, under torch.compile or in captured sublayers. Else None."""
        fc1, fc2 = self.fc1, self.fc2
        if (not isinstance(self.norm, nn.Identity) or (self.training and self.drop1.p > 0)
                or not (_plain(fc1) and _plain(fc2)) or x.shape[-1] != fc1.in_features):
            return None
        x2 = x.reshape(-1, fc1.in_features)
        first, second = fc1.kernel_args(x2), fc2.kernel_args(x2)
        y = None if first is None or second is None else fused_kan_mlp(x2, first, second)
        return None if y is None else y.reshape(*x.shape[:-1], fc2.out_features)


def _plain(layer: nn.Module) -> bool:
    """A KANLinear without a bias or hooks of its own or global ones (which the one-op call would skip)."""
    from torch.nn.modules import module as hooks

    return (isinstance(layer, KANLinear) and layer.bias is None
            and not (layer._forward_hooks or layer._forward_pre_hooks or layer._backward_hooks
                     or layer._backward_pre_hooks or hooks._global_forward_hooks or hooks._global_forward_pre_hooks
                     or hooks._global_backward_hooks or hooks._global_backward_pre_hooks))
