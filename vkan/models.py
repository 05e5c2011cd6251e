"""timm registrations of ViT-KAN models and their parameter-matched MLP twins."""
from __future__ import annotations

import fnmatch
from functools import partial
from typing import Any, Dict, Optional, Sequence, Set

import torch.nn as nn
from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer

from vkan.kan import KANLinear
from vkan.kan_tools import KAN_NO_WEIGHT_DECAY
from vkan.mlp import KANMlp

# width, heads of the three sizes (depth is 12 for all)
VIT_SIZES: Dict[str, tuple] = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}
VIT_DEPTH = 12
KAN_HEAD_HIDDEN = 64  # Kansformer's head: KAN([dim, 64, classes])

# create_model kwargs that configure the KAN layers (the rest go to timm's VisionTransformer)
KAN_OPTIONS = (
    "grid_size", "spline_order", "grid_range", "base_activation", "enable_standalone_scale_spline",
    "kan_bias", "scale_noise", "scale_base", "scale_spline", "grid_eps",
)


class KanVisionTransformer(VisionTransformer):
    """timm's VisionTransformer with an optional two-layer KAN classifier and KAN weight-decay rules."""

    def __init__(self, *args, kan_head: bool = False, kan_head_kwargs: Optional[dict] = None, **kwargs):
        self.kan_head = kan_head
        self.kan_head_kwargs = dict(kan_head_kwargs or {})
        super().__init__(*args, **kwargs)
        if kan_head:
            self.head = self._make_kan_head(self.num_classes)

    def _make_kan_head(self, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        kw = self.kan_head_kwargs
        return nn.Sequential(KANLinear(self.embed_dim, KAN_HEAD_HIDDEN, **kw), KANLinear(KAN_HEAD_HIDDEN, num_classes, **kw))

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        super().reset_classifier(num_classes, global_pool)
        if self.kan_head:
            self.head = self._make_kan_head(num_classes)

    def no_weight_decay(self) -> Set[str]:
        """timm's ViT exemptions plus the KAN ones (``KAN_NO_WEIGHT_DECAY``), as full parameter names."""
        names = set(super().no_weight_decay())
        names.update(n for n, _ in self.named_parameters() if any(fnmatch.fnmatch(n, p) for p in KAN_NO_WEIGHT_DECAY))
        return names


def kan_mlp_param_count(dim: int, hidden: int, grid_size: int = 5, spline_order: int = 3,
                        enable_standalone_scale_spline: bool = True, kan_bias: bool = False) -> int:
    """Parameters of ``KANMlp(dim, hidden, dim)``."""
    per_edge = grid_size + spline_order + 1 + int(enable_standalone_scale_spline)
    return 2 * dim * hidden * per_edge + int(kan_bias) * (hidden + dim)


def matched_kan_hidden(dim: int, mlp_ratio: float = 4.0, grid_size: int = 5, spline_order: int = 3,
                       enable_standalone_scale_spline: bool = True, kan_bias: bool = False) -> int:
    """KAN hidden width whose KANMlp has as many parameters as timm's ``Mlp(dim, dim * mlp_ratio)``."""
    hidden = int(dim * mlp_ratio)
    mlp_params = 2 * dim * hidden + hidden + dim  # two nn.Linear with bias
    per_edge = grid_size + spline_order + 1 + int(enable_standalone_scale_spline)
    per_hidden = 2 * dim * per_edge + int(kan_bias)
    return max(1, round((mlp_params - int(kan_bias) * dim) / per_hidden))


def _pop_timm_factory_args(kwargs: Dict[str, Any], variant: str) -> None:
    """Drop create_model's pretrained-weight plumbing; vkan models ship no weights."""
    if kwargs.pop("pretrained", False):
        raise ValueError(f"{variant} has no pretrained weights; call timm.create_model({variant!r}) without pretrained=True")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)


def _vit_args(size: str, patch_size: int, img_size: int, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    dim, heads = VIT_SIZES[size]
    args = dict(img_size=img_size, patch_size=patch_size, embed_dim=dim, depth=VIT_DEPTH, num_heads=heads)
    args.update(kwargs)
    return args


def create_vit_kan(variant: str, size: str, patch_size: int, img_size: int, *,
                   kan_hidden: Optional[int] = None, kan_head: bool = False, **kwargs) -> KanVisionTransformer:
    """Build a ViT whose every feed-forward is a KANMlp; KAN options come through ``kwargs``."""
    _pop_timm_factory_args(kwargs, variant)
    kan = {k: kwargs.pop(k) for k in KAN_OPTIONS if k in kwargs}
    if "grid_range" in kan:
        kan["grid_range"] = tuple(kan["grid_range"])
    args = _vit_args(size, patch_size, img_size, kwargs)
    dim, ratio = args["embed_dim"], args.get("mlp_ratio", 4.0)
    count_keys = ("grid_size", "spline_order", "enable_standalone_scale_spline", "kan_bias")
    hidden = kan_hidden or matched_kan_hidden(dim, ratio, **{k: kan[k] for k in count_keys if k in kan})
    head_kwargs = {k: v for k, v in kan.items() if k != "kan_bias"}
    head_kwargs["bias"] = kan.get("kan_bias", False)
    model = KanVisionTransformer(mlp_layer=partial(KANMlp, kan_hidden=hidden, **kan),
                                 kan_head=kan_head, kan_head_kwargs=head_kwargs, **args)
    model.kan_hidden = hidden
    return model


def create_vit_mlp(variant: str, size: str, patch_size: int, img_size: int, **kwargs) -> VisionTransformer:
    """Build the plain timm ViT twin (same attention, depth and width, MLP feed-forward)."""
    _pop_timm_factory_args(kwargs, variant)
    return VisionTransformer(**_vit_args(size, patch_size, img_size, kwargs))


# --- registrations: vit_{kan,mlp}_{tiny,small,base}_{patch4_32,patch16_224} -------------------------------

def _register(name: str, builder, size: str, patch_size: int, img_size: int, **fixed) -> None:
    def entrypoint(pretrained: bool = False, **kwargs):
        kwargs = {**fixed, **kwargs}
        return builder(name, size, kwargs.pop("patch_size", patch_size), kwargs.pop("img_size", img_size),
                       pretrained=pretrained, **kwargs)

    entrypoint.__name__ = name
    entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"{name}: {size} ViT ({VIT_SIZES[size][0]} wide, depth {VIT_DEPTH}), patch {patch_size}, {img_size} px."
    globals()[name] = register_model(entrypoint)


REGISTERED_PAIRS: Sequence[tuple] = []
for _size in VIT_SIZES:
    for _patch, _img in ((4, 32), (16, 224)):
        _kan, _mlp = f"vit_kan_{_size}_patch{_patch}_{_img}", f"vit_mlp_{_size}_patch{_patch}_{_img}"
        _register(_kan, create_vit_kan, _size, _patch, _img)
        _register(_mlp, create_vit_mlp, _size, _patch, _img)
        REGISTERED_PAIRS.append((_kan, _mlp))

# Kansformer reproduction: ViT-B/16 whose every MLP is KAN([768, 64, 768]) and whose head is KAN([768, 64, C])
_register("vit_kan_seed_base_patch16_224", create_vit_kan, "base", 16, 224, kan_hidden=KAN_HEAD_HIDDEN, kan_head=True)

REGISTERED_MODELS = [n for pair in REGISTERED_PAIRS for n in pair] + ["vit_kan_seed_base_patch16_224"]
