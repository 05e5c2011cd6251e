"""Small-data ViT pieces as timm hooks: from "Vision Transformer for Small-Size Datasets" (Lee et al., 2021) the
shifted patch tokenizer (SPT, a timm ``embed_layer``) and locality self-attention (LSA, an ``attn_layer``); from
"Escaping the Big Data Paradigm with Compact Transformers" (Hassani et al., 2021) the convolutional tokenizer.

They are picked by model kwargs (``tokenizer="spt"`` or ``"conv"``, ``attention="lsa"``) that the KAN models and
their MLP twins share, so the twins stay parameter-matched; the rest of the ViT stays timm's.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import PatchEmbed, to_2tuple
from timm.models.vision_transformer import Attention

SHIFTS = ((-1, -1), (1, -1), (-1, 1), (1, 1))  # the four diagonal shifts, in units of half a patch
CONV_TOKENIZER_WIDTH = 64  # channels of the convolutional tokenizer's stages before its last (CCT's)


class FixedPatchEmbed(PatchEmbed):
    """A ``PatchEmbed`` whose projection is built for one patch size: timm's ``set_input_size`` (how a timm ViT
    changes its input) takes a new image size, and refuses a new patch size with a ValueError instead of swapping in
    a projection of the wrong shape."""

    def set_input_size(self, img_size=None, patch_size=None) -> None:
        if patch_size is not None and to_2tuple(patch_size) != self.patch_size:
            raise ValueError(f"{type(self).__name__} is built for patch_size={self.patch_size} and cannot change it to "
                             f"{to_2tuple(patch_size)}; create the model with the new patch size instead")
        self.check_grid(to_2tuple(img_size) if img_size is not None else self.img_size)
        super().set_input_size(img_size=img_size)

    def check_grid(self, img_size) -> None:
        """Raise a ValueError if this tokenizer cannot cut ``img_size`` into its grid (here: any size can)."""


class ShiftedPatchEmbed(FixedPatchEmbed):
    """SPT: the image and its four diagonal shifts by half a patch (zero-filled) are stacked on the channel
    axis, cut into patches, each flattened patch layer-normalised and linearly projected to a token.

    Takes timm's ``embed_layer`` call; (B, C, H, W) -> (B, N, embed_dim) like ``PatchEmbed`` with flatten.
    """

    def __init__(self, img_size=224, patch_size=16, in_chans: int = 3, embed_dim: int = 768, norm_layer=None,
                 flatten: bool = True, bias: bool = True, **kwargs):
        super().__init__(img_size, patch_size, in_chans, embed_dim, norm_layer=norm_layer, flatten=flatten,
                         bias=bias, **kwargs)
        ph, pw = self.patch_size
        patch_dim = 5 * in_chans * ph * pw
        self.patch_norm = nn.LayerNorm(patch_dim)
        self.proj = nn.Linear(patch_dim, embed_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        dy, dx = self.patch_size[0] // 2, self.patch_size[1] // 2
        padded = F.pad(x, (dx, dx, dy, dy))  # (B, C, H + 2 dy, W + 2 dx), zeros around
        shifted = [padded[:, :, dy + sy * dy: dy + sy * dy + h, dx + sx * dx: dx + sx * dx + w] for sx, sy in SHIFTS]
        x = torch.cat([x, *shifted], dim=1)  # (B, 5C, H, W)
        patches = F.unfold(x, self.patch_size, stride=self.patch_size).transpose(1, 2)  # (B, N, 5C * ph * pw)
        return self.norm(self.proj(self.patch_norm(patches)))  # (B, N, embed_dim)


class ConvPatchEmbed(FixedPatchEmbed):
    """Convolutional tokenizer: where ``PatchEmbed`` projects each patch with one strided convolution, this halves
    the image log2(patch) times, each time by a 3x3 convolution (stride 1, no bias), ReLU and a 3x3 max-pooling of
    stride 2, so it ends on the same token grid. The convolutions have ``CONV_TOKENIZER_WIDTH`` channels, the last
    ``embed_dim``. CCT's tokenizer at this grid: patch 4 at 32 px is two stages, 64 tokens, 112k weights at width 192.

    Takes timm's ``embed_layer`` call; (B, C, H, W) -> (B, N, embed_dim) like ``PatchEmbed`` with flatten. The
    patch must be square, a power of two and divide the image (a ValueError says so).
    """

    def __init__(self, img_size=224, patch_size=16, in_chans: int = 3, embed_dim: int = 768, norm_layer=None,
                 flatten: bool = True, bias: bool = True, **kwargs):
        super().__init__(img_size, patch_size, in_chans, embed_dim, norm_layer=norm_layer, flatten=flatten,
                         bias=bias, **kwargs)
        self.check_grid(self.img_size)
        stages = self.patch_size[0].bit_length() - 1
        widths = [in_chans] + [CONV_TOKENIZER_WIDTH] * (stages - 1) + [embed_dim]
        layers = []
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(width_in, width_out, 3, padding=1, bias=False), nn.ReLU(inplace=True),
                       nn.MaxPool2d(3, stride=2, padding=1)]
        self.proj = nn.Sequential(*layers)  # PatchEmbed.forward: proj, flatten, norm
        self.init_weights()

    def check_grid(self, img_size) -> None:
        side, other = self.patch_size
        uneven = img_size is not None and any(n % side for n in img_size)
        if side != other or side < 2 or side & (side - 1) or uneven:
            raise ValueError(f"tokenizer='conv' halves the image once per stage, so it needs a square power-of-two "
                             f"patch size (2, 4, 8, 16, ...) that divides the image, got patch_size="
                             f"{self.patch_size} for img_size={img_size}; pick such a +model.kwargs.patch_size "
                             f"or another tokenizer")

    def init_weights(self) -> None:
        """He-normal convolutions, as CCT starts them; timm's ViT initialisation calls this after its own."""
        for layer in self.proj:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")


class LocalitySelfAttention(Attention):
    """LSA: timm's attention with a learnable softmax temperature (starting at 1/sqrt(head_dim)) and no
    attention of a token to itself (the diagonal is masked), so attention looks at other tokens."""

    def __init__(self, dim: int, num_heads: int = 8, **kwargs):
        super().__init__(dim, num_heads=num_heads, **kwargs)
        self.temperature = nn.Parameter(torch.tensor(float(self.head_dim) ** -0.5))

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None, **kwargs) -> torch.Tensor:
        b, n, _ = x.shape
        width = self.num_heads * self.head_dim
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, heads, N, head_dim) each
        q, k = self.q_norm(q), self.k_norm(k)
        diagonal = torch.eye(n, dtype=torch.bool, device=x.device)
        bias = torch.zeros(n, n, dtype=q.dtype, device=x.device).masked_fill(diagonal, float("-inf"))
        if attn_mask is not None:
            bias = bias + attn_mask
        x = F.scaled_dot_product_attention(q * self.temperature, k, v, attn_mask=bias, scale=1.0,
                                           dropout_p=self.attn_drop.p if self.training else 0.0)
        x = x.transpose(1, 2).reshape(b, n, width)  # (B, N, heads * head_dim)
        x = getattr(self, "norm", nn.Identity())(x)
        return self.proj_drop(self.proj(x))


TOKENIZERS = {"patch": PatchEmbed, "spt": ShiftedPatchEmbed, "conv": ConvPatchEmbed}
ATTENTIONS = {"standard": Attention, "lsa": LocalitySelfAttention}


def small_data_layers(kwargs: dict) -> dict:
    """Replace ``tokenizer`` / ``attention`` names in create_model kwargs by timm's ``embed_layer`` /
    ``attn_layer``; an unknown name raises ValueError naming the valid ones."""
    out = dict(kwargs)
    for key, table, hook in (("tokenizer", TOKENIZERS, "embed_layer"), ("attention", ATTENTIONS, "attn_layer")):
        name = out.pop(key, None)
        if name is None:
            continue
        if name not in table:
            raise ValueError(f"{key}={name!r}: choose one of {', '.join(table)}")
        out[hook] = table[name]
    return out
