"""vkan's registered models behave like timm's own ViTs towards timm's model API: default cfgs, forward_features /
forward_head, reset_classifier, forward_intermediates, features_only, torch.fx tracing, TorchScript under
``set_scriptable(True)``, a gradient for every parameter.

Models are built shallow (``depth=1``-``3``) and the 224-px ones at 64 px (a 4 x 4 grid of 16-px patches) to keep
CPU time low; the default-cfg test builds each model at the input size its cfg names.
"""
import pytest
import timm
import torch
import torch.nn as nn
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import set_scriptable
from timm.models import create_feature_extractor, get_graph_node_names

import vkan
from vkan import KANLinear, kan_layers, update_grids
from vkan.models import CIFAR_MEAN, CIFAR_STD, MODEL_ARGS, ScriptableKANLinear

NAMES = vkan.REGISTERED_MODELS
KAN_NAMES = [n for n in NAMES if n.startswith("vit_kan_")]
KAN_HEAD_NAMES = [n for n in NAMES if MODEL_ARGS[n][1].get("kan_head")]


def test_suite_covers_kan_mlp_and_kan_head_models():
    assert len(NAMES) == 13 and len(KAN_NAMES) == 7 and KAN_HEAD_NAMES == ["vit_kan_seed_base_patch16_224"]


def small_size(name: str) -> int:
    """The image size the small builds use: 32 px models as they are, 224 px models at 64 px."""
    size = MODEL_ARGS[name][1]["img_size"]
    return 64 if size == 224 else size


def build(name: str, depth: int = 1, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return timm.create_model(name, depth=depth, img_size=small_size(name), **kwargs)


def images(name: str, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(batch, 3, small_size(name), small_size(name))


def token_grid(name: str):
    side = small_size(name) // MODEL_ARGS[name][1]["patch_size"]
    return side, side


def classifier_outputs(head: nn.Module) -> int:
    """Output width of a classifier: an nn.Linear, or the last layer of the two-layer KAN head."""
    return [m for m in head.modules() if isinstance(m, (nn.Linear, KANLinear))][-1].out_features


@pytest.mark.parametrize("name", NAMES)
def test_default_cfg_describes_the_model_and_resolves_to_a_data_config(name):
    model = timm.create_model(name, depth=1).eval()  # the configured input size
    cfg = model.pretrained_cfg
    size = MODEL_ARGS[name][1]["img_size"]
    assert cfg["architecture"] == name and model.default_cfg == cfg
    assert timm.models.get_pretrained_cfg(name).input_size == cfg["input_size"] == (3, size, size)
    assert (model.patch_embed.proj.in_channels, *model.patch_embed.img_size) == cfg["input_size"]
    assert cfg["fixed_input_size"] and cfg["pool_size"] is None  # one learned position grid, like timm's ViT
    assert cfg["num_classes"] == model.num_classes == 1000
    first_conv = model.get_submodule(cfg["first_conv"])
    assert isinstance(first_conv, nn.Conv2d) and first_conv.in_channels == 3
    head = model.get_submodule(cfg["classifier"])
    assert head is model.get_classifier() and classifier_outputs(head) == model.num_classes

    data = timm.data.resolve_data_config({}, model=model)
    mean, std = (CIFAR_MEAN, CIFAR_STD) if size == 32 else (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    assert data["input_size"] == cfg["input_size"]
    assert tuple(data["mean"]) == tuple(mean) and tuple(data["std"]) == tuple(std)
    assert (data["crop_pct"], data["interpolation"]) == (cfg["crop_pct"], cfg["interpolation"])
    pixels = timm.data.create_transform(**data)(Image.new("RGB", (300, 260), (120, 30, 200)))
    assert tuple(pixels.shape) == cfg["input_size"]
    with torch.no_grad():
        assert model(pixels.unsqueeze(0)).shape == (1, model.num_classes)


@pytest.mark.parametrize("name", NAMES)
def test_forward_features_keeps_the_tokens_and_forward_head_pools_then_classifies(name):
    model = build(name, num_classes=10).eval()
    x = images(name)
    rows, cols = token_grid(name)
    with torch.no_grad():
        feats = model.forward_features(x)
        pre_logits = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats)
        direct = model(x)
    assert model.num_features == model.head_hidden_size == MODEL_ARGS[name][1]["embed_dim"]
    assert feats.shape == (2, model.num_prefix_tokens + rows * cols, model.num_features)
    assert pre_logits.shape == (2, model.head_hidden_size)
    assert torch.equal(pre_logits, feats[:, 0])  # timm ViT's default 'token' pooling: the class token
    assert logits.shape == (2, 10) and torch.allclose(logits, direct)


@pytest.mark.parametrize("name", NAMES)
def test_reset_classifier_to_zero_classes_returns_pooled_features_and_a_new_head_has_the_new_width(name):
    model = build(name).eval()
    x = images(name)
    with torch.no_grad():
        feats = model.forward_features(x)
        pre_logits = model.forward_head(feats, pre_logits=True)
        model.reset_classifier(0)
        assert model.num_classes == 0 and isinstance(model.get_classifier(), nn.Identity)
        pooled = model(x)
        assert pooled.shape == (2, model.num_features) and torch.allclose(pooled, pre_logits)
        model.reset_classifier(0, "")  # no pooling either: the tokens
        assert torch.allclose(model(x), feats)
        model.reset_classifier(7, "token")
        assert model(x).shape == (2, 7) and model.num_classes == 7
        head_kan_layers = list(kan_layers(model.get_classifier()))
        assert len(head_kan_layers) == (2 if name in KAN_HEAD_NAMES else 0)
        headless = build(name, num_classes=0).eval()
        assert headless.num_classes == 0 and headless(x).shape == (2, headless.num_features)


@pytest.mark.parametrize("name", NAMES)
def test_forward_intermediates_gives_one_feature_map_per_block_and_the_final_features(name):
    model = build(name, depth=2).eval()
    x = images(name)
    rows, cols = token_grid(name)
    dim = model.embed_dim
    patch = MODEL_ARGS[name][1]["patch_size"]
    assert [(f["num_chs"], f["reduction"], f["module"]) for f in model.feature_info] == [
        (dim, patch, "blocks.0"), (dim, patch, "blocks.1")]
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        assert torch.allclose(final, model.forward_features(x))
        assert [m.shape for m in maps] == [(2, dim, rows, cols)] * 2
        tokens = model.forward_intermediates(x, indices=[0], output_fmt="NLC", intermediates_only=True)
        assert len(tokens) == 1 and tokens[0].shape == (2, rows * cols, dim)
        assert torch.allclose(tokens[0].transpose(1, 2).reshape(2, dim, rows, cols), maps[0])
        assert not torch.allclose(maps[0], maps[1])
        model.set_grad_checkpointing()
        final_ckpt, _ = model.forward_intermediates(x)
    assert torch.allclose(final_ckpt, final, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_features_only_model_returns_nchw_maps_of_the_chosen_blocks(name):
    dim, patch = MODEL_ARGS[name][1]["embed_dim"], MODEL_ARGS[name][1]["patch_size"]
    rows, cols = token_grid(name)
    x = images(name)
    default = build(name, depth=3, features_only=True).eval()  # timm ViT default out_indices=3: last 3 blocks
    first = build(name, depth=3, features_only=True, out_indices=(0,)).eval()
    assert default.feature_info.channels() == [dim] * 3 and default.feature_info.reduction() == [patch] * 3
    assert first.feature_info.channels() == [dim]
    with torch.no_grad():
        maps, first_maps = default(x), first(x)
    assert isinstance(maps, list) and [m.shape for m in maps] == [(2, dim, rows, cols)] * 3
    assert len(first_maps) == 1 and torch.allclose(first_maps[0], maps[0])  # same seed, same weights
    assert all(torch.isfinite(m).all() for m in maps)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient_and_grad_checkpointing_keeps_the_output(name):
    model = build(name, depth=2, num_classes=42).train()
    x = images(name)
    torch.manual_seed(3)
    out = model(x)
    assert out.shape == (2, 42)
    out.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    model.eval()
    with torch.no_grad():
        plain = model(x)
        model.set_grad_checkpointing()
        assert torch.allclose(model(x), plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_fx_traced_model_computes_exactly_what_the_model_computes_and_backpropagates(name):
    model = build(name, num_classes=42).eval()
    x = images(name)
    _, eval_nodes = get_graph_node_names(model)
    if name in KAN_NAMES:  # every KAN layer is one leaf node: its eager code (fused kernels on CUDA) runs as it is
        assert "blocks.0.mlp.fc1" in eval_nodes and "blocks.0.mlp.fc2" in eval_nodes
        assert not any(n.startswith("blocks.0.mlp.fc1.") for n in eval_nodes)
    out_node = eval_nodes[-1]
    traced = create_feature_extractor(model, [out_node])
    with torch.no_grad():
        assert torch.equal(traced(x)[out_node], model(x))
    traced.train()
    traced(x)[out_node].mean().backward()
    n_params = sum(p.numel() for p in model.parameters())
    assert sum(p.grad.numel() for p in traced.parameters() if p.grad is not None) == n_params


@pytest.mark.parametrize("name", NAMES)
def test_model_built_under_set_scriptable_scripts_and_matches_the_eager_model(name):
    with set_scriptable(True):
        model = build(name, num_classes=5).eval()
    eager_built = build(name, num_classes=5).eval()
    layers = [type(layer) for _, layer in kan_layers(model)]
    assert layers == [ScriptableKANLinear] * len(layers) and len(layers) == (4 if name in KAN_HEAD_NAMES else
                                                                             2 if name in KAN_NAMES else 0)
    assert all(type(layer) is KANLinear for _, layer in kan_layers(eager_built))  # the switch is scoped
    scripted = torch.jit.script(model)
    x = images(name)
    with torch.no_grad():
        expected = eager_built(x)
        assert torch.allclose(model(x), expected)  # same weights and same eager forward
        assert torch.allclose(scripted(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize("variant", ["default", "bias, no scaler", "updated grid"])
def test_scripted_kan_layer_matches_kan_linear_values_and_gradients(order, variant):
    options = dict(spline_order=order, grid_size=4)
    if variant == "bias, no scaler":
        options.update(bias=True, enable_standalone_scale_spline=False)
    torch.manual_seed(0)
    layer = KANLinear(6, 5, **options)
    torch.manual_seed(0)
    scriptable = ScriptableKANLinear(6, 5, **options)
    x = torch.randn(3, 4, 6) * 1.5
    if variant == "updated grid":
        update_grids(layer, x)
        update_grids(scriptable, x)
        assert not layer.grid_uniform
    assert scriptable.state_dict().keys() == layer.state_dict().keys()
    scripted = torch.jit.script(scriptable)
    xs, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = scripted(xs), layer(xr)
    assert out.shape == ref.shape == (3, 4, 5) and torch.allclose(out, ref, atol=1e-5)
    out.square().sum().backward()
    ref.square().sum().backward()
    assert torch.allclose(xs.grad, xr.grad, atol=1e-4)
    assert torch.allclose(scriptable.spline_weight.grad, layer.spline_weight.grad, atol=1e-4)
    assert torch.allclose(scriptable.base_weight.grad, layer.base_weight.grad, atol=1e-4)
