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
    torch.manual_seed(0)
    img = 224 if name.endswith("224") else 32
    model = timm.create_model(name, num_classes=5)
    x = torch.randn(2, 3, img, img)
    out = model(x)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.logsumexp(-1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    if "_kan_" in name:
        assert sum(1 for _ in kan_layers(model)) >= 24


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


def test_mnist_shape_and_kan_options_pass_through_create_model():
    model = timm.create_model("vit_kan_tiny_patch4_32", num_classes=10, img_size=28, in_chans=1,
                              grid_size=8, spline_order=2, grid_range=(-2, 2), base_activation="gelu",
                              enable_standalone_scale_spline=False, kan_bias=True, kan_hidden=50)
    fc1 = model.blocks[3].mlp.fc1
    assert (fc1.in_features, fc1.out_features, fc1.grid_size, fc1.spline_order) == (192, 50, 8, 2)
    assert fc1.grid_range == (-2.0, 2.0) and fc1.spline_scaler is None and fc1.bias is not None
    assert isinstance(fc1.base_activation, torch.nn.GELU)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


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
