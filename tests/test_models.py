"""timm registrations: every model builds, trains a step, and KAN/MLP twins match in size."""
import pytest
import timm
import torch

import vkan
from vkan import KANLinear, KANMlp, kan_layers, kan_regularization_loss, param_groups, update_grids
from vkan.models import REGISTERED_PAIRS


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", vkan.REGISTERED_MODELS)
def test_model_builds_runs_and_every_parameter_gets_a_gradient(name):
    """Two blocks of each registered model (every block is built alike; the twins' test builds all twelve), so that
    the base sizes at 224 px run in seconds on a CPU."""
    torch.manual_seed(0)
    img = 224 if name.endswith("224") else 32
    model = timm.create_model(name, num_classes=5, depth=2)
    x = torch.randn(2, 3, img, img)
    out = model(x)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.logsumexp(-1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    if name.startswith("vit_kan_"):
        head = 2 if name == "vit_kan_seed_base_patch16_224" else 0  # the seed's KAN head: two more layers
        assert sum(1 for _ in kan_layers(model)) == 4 + head  # fc1 and fc2 of each block


@pytest.mark.parametrize("kan_name,mlp_name", REGISTERED_PAIRS)
def test_kan_and_mlp_twins_within_5_percent_parameters_with_identical_attention(kan_name, mlp_name):
    kan, mlp = timm.create_model(kan_name, num_classes=10), timm.create_model(mlp_name, num_classes=10)
    assert abs(n_params(kan) / n_params(mlp) - 1) < 0.05
    assert isinstance(kan.blocks[0].mlp, KANMlp) and not isinstance(mlp.blocks[0].mlp, KANMlp)
    assert len(kan.blocks) == len(mlp.blocks) == 12
    assert kan.embed_dim == mlp.embed_dim
    kan_attn = {n: p.shape for n, p in kan.named_parameters() if ".mlp." not in n}
    mlp_attn = {n: p.shape for n, p in mlp.named_parameters() if ".mlp." not in n}
    assert kan_attn == mlp_attn


@pytest.mark.parametrize("how", ["kan dict", "KANSpec", "flat keywords", "checkpoint of an earlier version"])
def test_mnist_shape_and_kan_options_pass_through_create_model(how):
    options = dict(grid_size=8, spline_order=2, grid_range=(-2, 2), base_activation="gelu",
                   enable_standalone_scale_spline=False, bias=True)
    kan = {"kan dict": dict(kan=options), "KANSpec": dict(kan=vkan.KANSpec(**options)), "flat keywords": options,
           "checkpoint of an earlier version": {**options, "bias": None, "kan_bias": True}}[how]
    kan = {k: v for k, v in kan.items() if v is not None}
    model = timm.create_model("vit_kan_tiny_patch4_32", num_classes=10, img_size=28, in_chans=1, kan_hidden=50, **kan)
    fc1 = model.blocks[3].mlp.fc1
    assert (fc1.in_features, fc1.out_features, fc1.grid_size, fc1.spline_order) == (192, 50, 8, 2)
    assert fc1.grid_range == (-2.0, 2.0) and fc1.spline_scaler is None and fc1.bias is not None
    assert isinstance(fc1.base_activation, torch.nn.GELU)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_unknown_kan_option_is_rejected_naming_the_valid_ones():
    with pytest.raises(TypeError, match="unknown KAN option.*grid_sise.*valid options: grid_size, spline_order"):
        timm.create_model("vit_kan_tiny_patch4_32", kan={"grid_sise": 3})
    with pytest.raises(TypeError, match="unknown KAN option.*grid_sise"):
        KANMlp(8, 16, grid_sise=3)


def test_a_kan_option_lives_in_kanspec_and_reaches_every_layer_and_the_width_rule():
    spec = vkan.KANSpec(grid_size=3, spline_order=1, enable_standalone_scale_spline=False)
    assert spec.params_per_edge == 3 + 1 + 1 and spec.n_coef == 4
    model = timm.create_model("vit_kan_tiny_patch4_32", kan=spec, kan_head=True, depth=2)
    assert all(layer.spec == spec for _, layer in kan_layers(model))  # blocks and head
    matched = vkan.matched_kan_hidden(192, 4.0, spec)
    assert matched == round((2 * 192 * 768 + 768 + 192) / (2 * 192 * 5)) == 154
    assert model.kan_hidden == vkan.matched_kan_hidden(192, 4.0, spec, multiple=16) == 160  # the registered rounding


def test_kernel_friendly_width_rounds_only_within_five_percent_of_the_matched_width():
    assert [vkan.matched_kan_hidden(d, multiple=32) for d in (192, 384, 768)] == [77, 160, 320]  # 64 is 17% off 77
    assert vkan.matched_kan_hidden(192, multiple=16) == 80
    assert vkan.matched_kan_hidden(384, multiple=1000) == 154  # a multiple far from the width leaves it alone
    for bad in (0, -32, 32.0, True):
        with pytest.raises(ValueError, match="kan_hidden_multiple"):
            vkan.matched_kan_hidden(384, multiple=bad)
    counts = {}
    for name, kwargs in [("vit_mlp_small_patch16_224", {}), ("vit_kan_small_patch16_224", {}),
                         ("vit_kan_small_patch16_224", {"kan_hidden_multiple": 1})]:
        model = timm.create_model(name, depth=1, img_size=32, **kwargs)
        counts[name, kwargs.get("kan_hidden_multiple")] = sum(p.numel() for p in model.parameters())
        if name.startswith("vit_kan"):  # registered: rounded to 16s; kan_hidden_multiple=1: the matched width
            assert model.kan_hidden == model.blocks[0].mlp.fc1.out_features == (154 if kwargs else 160)
    mlp = counts["vit_mlp_small_patch16_224", None]
    assert abs(counts["vit_kan_small_patch16_224", None] / mlp - 1) < 0.05
    assert abs(counts["vit_kan_small_patch16_224", 1] / mlp - 1) < 0.001


def test_models_carry_timm_default_configs():
    for name in vkan.REGISTERED_MODELS:
        model = timm.create_model(name, num_classes=10, depth=1)
        cfg = timm.data.resolve_data_config({}, model=model)
        size = 224 if name.endswith("224") else 32
        assert cfg["input_size"] == (3, size, size) and len(cfg["mean"]) == 3, name
        assert model.pretrained_cfg["first_conv"] == "patch_embed.proj" and model.pretrained_cfg["classifier"] == "head"


def test_kansformer_seed_model_structure():
    model = timm.create_model("vit_kan_seed_base_patch16_224", num_classes=7)
    for block in model.blocks:
        assert (block.mlp.fc1.in_features, block.mlp.fc1.out_features, block.mlp.fc2.out_features) == (768, 64, 768)
    h1, h2 = model.head
    assert isinstance(h1, KANLinear) and (h1.in_features, h1.out_features, h2.out_features) == (768, 64, 7)
    model.reset_classifier(3)
    assert model.head[1].out_features == 3


def test_pretrained_request_gives_a_clear_error():
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("vit_kan_tiny_patch4_32", pretrained=True)


def test_weight_decay_groups_exempt_spline_scaler_but_decay_spline_weight():
    model = timm.create_model("vit_kan_tiny_patch4_32", num_classes=10)
    names = model.no_weight_decay()
    assert "blocks.0.mlp.fc1.spline_scaler" in names and "pos_embed" in names
    groups = param_groups(model, 0.05)
    decayed = {id(p) for p in groups[1]["params"]}
    fc1 = model.blocks[0].mlp.fc1
    assert id(fc1.spline_weight) in decayed and id(fc1.base_weight) in decayed
    assert id(fc1.spline_scaler) not in decayed and id(model.pos_embed) not in decayed
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))


def test_spline_groups_keep_scalers_exempt_when_no_weight_decay_lists_patterns():
    class Net(torch.nn.Sequential):
        def no_weight_decay(self):
            return {"*spline_scaler"}  # timm reads these as fnmatch patterns

    net = Net(KANLinear(8, 6), KANLinear(6, 4))
    groups = param_groups(net, 0.05, spline_lr_scale=0.5)
    group_of = {id(p): g for g in groups for p in g["params"]}
    assert group_of[id(net[1].spline_scaler)]["weight_decay"] == 0.0 and group_of[id(net[1].spline_scaler)]["lr_scale"] == 0.5
    assert group_of[id(net[1].spline_weight)]["weight_decay"] == 0.05 and "lr_scale" not in group_of[id(net[1].base_weight)]
    assert len(group_of) == len(list(net.parameters()))


def test_regularization_loss_sums_every_kan_layer():
    model = timm.create_model("vit_kan_tiny_patch4_32", num_classes=10, depth=2)
    expected = sum(layer.regularization_loss() for _, layer in kan_layers(model))
    torch.testing.assert_close(kan_regularization_loss(model), expected)
    mlp = timm.create_model("vit_mlp_tiny_patch4_32", num_classes=10, depth=2)
    assert kan_regularization_loss(mlp).item() == 0


def test_update_grids_refits_every_layer_on_its_own_inputs_and_keeps_logits():
    torch.manual_seed(0)
    model = timm.create_model("vit_kan_tiny_patch4_32", num_classes=10, depth=2)
    x = torch.randn(8, 3, 32, 32)
    seen = {}
    hooks = [layer.register_forward_pre_hook(lambda m, a, n=n: seen.__setitem__(n, a[0].detach().reshape(-1, m.in_features)))
             for n, layer in kan_layers(model)]
    model.eval()
    with torch.no_grad():
        before = model(x)
    for h in hooks:
        h.remove()
    old = {n: layer.grid.clone() for n, layer in kan_layers(model)}
    model.train()
    assert update_grids(model, x) == 4
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        after = model(x)
    for n, layer in kan_layers(model):
        k, g = layer.spline_order, layer.grid_size
        assert not torch.equal(layer.grid, old[n]), n
        inputs = seen[n]
        # the new interior range is fitted to what this layer sees (within the 0.01 margin and strides)
        assert (layer.grid[:, k] <= inputs.min(0).values + 0.05).all(), n
        assert (layer.grid[:, g + k] >= inputs.max(0).values - 0.05).all(), n
    err = ((after - before).norm() / before.norm()).item()
    assert err < 0.05, err


def test_kan_vit_keeps_at_most_1_5x_the_mlp_twins_memory_for_backward_on_the_cpu_path():
    """The reference (CPU) path saves only each KAN layer's inputs for backward, not the (tokens, in, G + k) bases."""
    from vkan.bspline import saved_tensor_bytes

    saved = {}
    for name in ("vit_kan_tiny_patch4_32", "vit_mlp_tiny_patch4_32"):
        model = timm.create_model(name, num_classes=10, depth=4)
        x = torch.randn(16, 3, 32, 32)
        saved[name] = saved_tensor_bytes(lambda: model(x).sum(), )[1]
    assert saved["vit_kan_tiny_patch4_32"] <= 1.5 * saved["vit_mlp_tiny_patch4_32"], saved


def test_kan_layer_saves_its_input_and_weights_not_the_bases():
    from vkan.bspline import saved_tensor_bytes

    layer = KANLinear(64, 32, grid_size=8)
    x = torch.randn(4096, 64, requires_grad=True)
    _, n_bytes = saved_tensor_bytes(layer, x)
    bases = 4096 * 64 * layer.n_coef * 4
    params = sum(p.numel() for p in layer.parameters()) * 4
    assert n_bytes <= 3 * x.numel() * 4 + 2 * params < bases, (n_bytes, bases)
