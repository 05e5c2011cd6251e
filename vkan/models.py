"""timm registrations of ViT-KAN models and their parameter-matched MLP twins, with timm default configs."""
from __future__ import annotations

import fnmatch
from functools import partial
from typing import Any, Dict, Mapping, Optional, Set, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import is_scriptable, register_notrace_module
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

from vkan.bspline import b_spline_bases
from vkan.kan import KANLinear, KANSpec
from vkan.kan_tools import KAN_NO_WEIGHT_DECAY
from vkan.mlp import KANMlp
from vkan.small_data import small_data_layers

# width, heads of the three sizes (depth is 12 for all)
VIT_SIZES: Dict[str, tuple] = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}
VIT_DEPTH = 12
KAN_HEAD_HIDDEN = 64  # Kansformer's head: KAN([dim, 64, classes])
KERNEL_FRIENDLY_TOLERANCE = 0.05  # matched_kan_hidden(multiple=...) may move the width by at most this fraction
# The registered KAN models round their matched width to a multiple of 16 (77 -> 80, 154 -> 160, 307 -> 304: +2.5%,
# +2.6%, -0.7% parameters against the MLP twin). The fused input-grad kernel takes its faster path on input widths
# that are multiples of 16, and the rounded widths trained 14% (tiny/4), 24% (small/16) and 34% (base/16) faster
# under CUDA graphs on an H200 (bench/RESULTS.md, thirteenth session). kan_hidden_multiple=1 keeps the matched width.
KAN_HIDDEN_MULTIPLE = 16
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
KanOptions = Union[KANSpec, Mapping[str, Any], None]

# torch.fx (timm's fx feature extraction, torchvision's create_feature_extractor) keeps every KANLinear as one
# call_module node: its forward checks shapes and picks the fused or the reference path in Python, which symbolic
# tracing cannot follow, and as a leaf it runs exactly its eager code (fused kernels included) inside the graph.
register_notrace_module(KANLinear)


class ScriptableKANLinear(KANLinear):
    """KANLinear that ``torch.jit.script`` accepts: what KAN layers become in a model built under timm's
    ``set_scriptable(True)`` (timm's switch for scriptable layer variants). Same parameters, buffers and state
    dict as KANLinear, and the same eager forward (fused kernels on CUDA); only the scripted graph differs: it
    computes the layer with the Cox-de Boor bases of ``vkan.bspline.b_spline_bases`` (the reference path's bases
    for any grid) and plain autograd, since the fused/reference dispatch and the lean autograd function of the
    eager path are Python that TorchScript cannot compile."""

    # KANLinear's properties read the (dataclass) spec, which TorchScript cannot type; the scripted forward needs none
    __jit_unused_properties__ = ["grid_size", "spline_order", "grid_range", "scale_noise", "scale_base",
                                 "scale_spline", "enable_standalone_scale_spline", "grid_eps", "n_coef",
                                 "scaled_spline_weight"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out)."""
        if torch.jit.is_scripting():
            return self._scripted_forward(x)
        return self._eager_forward(x)

    @torch.jit.unused
    def _eager_forward(self, x: torch.Tensor) -> torch.Tensor:
        return KANLinear.forward(self, x)

    def _scripted_forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)  # (N, in)
        weight = self.spline_weight  # (out, in, C)
        scaler = self.spline_scaler
        if scaler is not None:
            weight = weight * scaler.unsqueeze(-1)
        spline_order = self.grid.shape[1] - weight.shape[2] - 1  # grid: (in, C + k + 1)
        xf = x2 if x2.dtype == torch.float32 or x2.dtype == torch.float64 else x2.float()
        bases = b_spline_bases(xf, self.grid, spline_order).to(weight.dtype)  # (N, in, C)
        out = F.linear(self.base_activation(x2), self.base_weight) + F.linear(
            bases.reshape(x2.shape[0], -1), weight.reshape(self.out_features, -1))  # (N, out)
        bias = self.bias
        if bias is not None:
            out = out + bias
        shape = list(lead)
        shape.append(self.out_features)
        return out.reshape(shape)


def make_kan_scriptable(module: nn.Module) -> nn.Module:
    """Turn every KANLinear in ``module`` into a ScriptableKANLinear, in place (same state; returns ``module``)."""
    for m in module.modules():
        if type(m) is KANLinear:
            m.__class__ = ScriptableKANLinear
    return module


class KanVisionTransformer(VisionTransformer):
    """timm's VisionTransformer with an optional two-layer KAN classifier and KAN weight-decay rules.

    Built under timm's ``set_scriptable(True)``, its KAN layers are ScriptableKANLinear (``torch.jit.script``
    works on the model, like on timm's ViT); the classifier keeps that choice through ``reset_classifier``."""

    def __init__(self, *args, kan_head: bool = False, kan_spec: Optional[KANSpec] = None, **kwargs):
        self.kan_head = kan_head
        self.kan_spec = kan_spec or KANSpec()
        self.scriptable_kan = is_scriptable()
        super().__init__(*args, **kwargs)
        if kan_head:
            self.head = self._make_kan_head(self.num_classes)
        if self.scriptable_kan:
            make_kan_scriptable(self)

    def _make_kan_head(self, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        layer = ScriptableKANLinear if self.scriptable_kan else KANLinear
        return nn.Sequential(layer(self.embed_dim, KAN_HEAD_HIDDEN, self.kan_spec),
                             layer(KAN_HEAD_HIDDEN, num_classes, self.kan_spec))

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        super().reset_classifier(num_classes, global_pool)
        if self.kan_head:
            self.head = self._make_kan_head(num_classes)

    def no_weight_decay(self) -> Set[str]:
        """timm's ViT exemptions plus the KAN ones (``KAN_NO_WEIGHT_DECAY``), as full parameter names."""
        names = set(super().no_weight_decay())
        names.update(n for n, _ in self.named_parameters() if any(fnmatch.fnmatch(n, p) for p in KAN_NO_WEIGHT_DECAY))
        return names


def matched_kan_hidden(dim: int, mlp_ratio: float = 4.0, spec: Optional[KANSpec] = None, multiple: int = 1) -> int:
    """KAN hidden width whose KANMlp has as many parameters as timm's ``Mlp(dim, dim * mlp_ratio)``.

    ``multiple`` > 1 rounds that width to the nearest multiple when this moves it (and so the feed-forward's
    parameters) by at most ``KERNEL_FRIENDLY_TOLERANCE``; otherwise the matched width stays. The registered models
    use ``KAN_HIDDEN_MULTIPLE`` (16), which the fused kernels train faster (see there)."""
    if not isinstance(multiple, int) or isinstance(multiple, bool) or multiple < 1:
        raise ValueError(f"kan_hidden_multiple must be an integer >= 1 (1 = the matched width as it is), got "
                         f"{multiple!r}")
    spec = spec or KANSpec()
    hidden = int(dim * mlp_ratio)
    mlp_params = 2 * dim * hidden + hidden + dim  # two nn.Linear with bias
    per_hidden = 2 * dim * spec.params_per_edge + int(spec.bias)
    matched = max(1, round((mlp_params - int(spec.bias) * dim) / per_hidden))
    rounded = max(multiple, multiple * round(matched / multiple))
    return rounded if abs(rounded - matched) <= KERNEL_FRIENDLY_TOLERANCE * matched else matched


def kan_spec_from_kwargs(kan: KanOptions, kwargs: Dict[str, Any]) -> KANSpec:
    """The KANSpec of ``create_model(..., kan={...})``. KANSpec fields given flat (``grid_size=8``, and
    ``kan_bias``, the name checkpoints of earlier versions stored) are popped from ``kwargs`` and win."""
    flat = {k: kwargs.pop(k) for k in KANSpec.names() if k in kwargs}
    if "kan_bias" in kwargs:
        flat["bias"] = kwargs.pop("kan_bias")
    if isinstance(kan, KANSpec):
        return KANSpec.of(kan, **flat)
    return KANSpec.of(**{**dict(kan or {}), **flat})


def _no_pretrained(variant: str, pretrained: bool) -> None:
    if pretrained:
        raise ValueError(f"{variant} has no pretrained weights; call timm.create_model({variant!r}) without "
                         f"pretrained=True")


def _build(variant: str, cls, kwargs: Dict[str, Any]):
    """timm's builder: attaches the pretrained config (``model.pretrained_cfg``) and handles ``features_only``.
    ``tokenizer="spt"`` or ``"conv"`` / ``attention="lsa"`` (vkan.small_data) become timm's ``embed_layer`` /
    ``attn_layer``."""
    kwargs = small_data_layers(kwargs)
    out_indices = kwargs.pop("out_indices", 3)
    return build_model_with_cfg(cls, variant, False, pretrained_filter_fn=checkpoint_filter_fn,
                                feature_cfg=dict(out_indices=out_indices, feature_cls="getter"), **kwargs)


def create_vit_kan(variant: str, pretrained: bool = False, *, kan: KanOptions = None,
                   kan_hidden: Optional[int] = None, kan_hidden_multiple: int = KAN_HIDDEN_MULTIPLE,
                   kan_head: bool = False, **kwargs) -> KanVisionTransformer:
    """A ViT whose every feed-forward is a KANMlp. ``kan``: a KANSpec or a dict of its fields;
    ``kan_hidden``: the hidden width (default: parameter-matched to the MLP twin, rounded to a multiple of
    ``kan_hidden_multiple`` (16; 1 keeps the matched width) where that stays within 5%: ``matched_kan_hidden``);
    ``kan_head``: a two-layer KAN classifier. Every other kwarg goes to timm's VisionTransformer."""
    _no_pretrained(variant, pretrained)
    spec = kan_spec_from_kwargs(kan, kwargs)
    hidden = kan_hidden or matched_kan_hidden(kwargs["embed_dim"], kwargs.get("mlp_ratio", 4.0), spec,
                                              kan_hidden_multiple)
    model = _build(variant, KanVisionTransformer, dict(
        kwargs, mlp_layer=partial(KANMlp, spec=spec, kan_hidden=hidden), kan_head=kan_head, kan_spec=spec))
    model.kan_hidden = hidden
    return model


def create_vit_mlp(variant: str, pretrained: bool = False, **kwargs) -> VisionTransformer:
    """The plain timm ViT twin (same attention, depth and width, MLP feed-forward)."""
    _no_pretrained(variant, pretrained)
    return _build(variant, VisionTransformer, kwargs)


# --- registrations: vit_{kan,mlp}_{tiny,small,base}_{patch4_32,patch16_224} + the Kansformer seed ------------

def _cfg(img_size: int, **kwargs) -> Dict[str, Any]:
    """timm's pretrained-config fields for a model trained from scratch (no weights to download)."""
    small = img_size <= 64
    return {"url": "", "num_classes": 1000, "input_size": (3, img_size, img_size), "pool_size": None,
            "crop_pct": 1.0 if small else 0.875, "interpolation": "bilinear" if small else "bicubic",
            "fixed_input_size": True, "mean": CIFAR_MEAN if small else IMAGENET_DEFAULT_MEAN,
            "std": CIFAR_STD if small else IMAGENET_DEFAULT_STD, "first_conv": "patch_embed.proj",
            "classifier": "head", "license": "apache-2.0", **kwargs}


MODEL_ARGS: Dict[str, tuple] = {}  # name -> (builder, fixed kwargs)
for _size, (_dim, _heads) in VIT_SIZES.items():
    for _patch, _img in ((4, 32), (16, 224)):
        _shape = dict(img_size=_img, patch_size=_patch, embed_dim=_dim, depth=VIT_DEPTH, num_heads=_heads)
        MODEL_ARGS[f"vit_kan_{_size}_patch{_patch}_{_img}"] = (create_vit_kan, _shape)
        MODEL_ARGS[f"vit_mlp_{_size}_patch{_patch}_{_img}"] = (create_vit_mlp, _shape)
# Kansformer reproduction: ViT-B/16 whose every MLP is KAN([768, 64, 768]) and whose head is KAN([768, 64, C])
MODEL_ARGS["vit_kan_seed_base_patch16_224"] = (create_vit_kan, dict(
    img_size=224, patch_size=16, embed_dim=768, depth=VIT_DEPTH, num_heads=12, kan_hidden=KAN_HEAD_HIDDEN,
    kan_head=True))

default_cfgs = generate_default_cfgs({name: _cfg(args["img_size"]) for name, (_, args) in MODEL_ARGS.items()})


def _register(name: str) -> None:
    builder, fixed = MODEL_ARGS[name]

    def entrypoint(pretrained: bool = False, **kwargs):
        return builder(name, pretrained, **{**fixed, **kwargs})

    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    dim = fixed["embed_dim"]
    entrypoint.__doc__ = f"{name}: ViT {dim} wide, depth {VIT_DEPTH}, patch {fixed['patch_size']}, {fixed['img_size']} px."
    globals()[name] = register_model(entrypoint)


for _name in MODEL_ARGS:
    _register(_name)

REGISTERED_MODELS = list(MODEL_ARGS)
REGISTERED_PAIRS = [(n, n.replace("vit_kan_", "vit_mlp_")) for n in REGISTERED_MODELS
                    if n.startswith("vit_kan_") and n.replace("vit_kan_", "vit_mlp_") in MODEL_ARGS]
