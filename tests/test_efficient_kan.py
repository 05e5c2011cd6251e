"""``vkan.KAN`` / ``KANLinear`` as a drop-in for efficient-kan: state dicts, outputs, grid updates and the
regularisation loss against what efficient-kan itself computed (tests/fixtures/efficient_kan_reference.pt,
written by make_efficient_kan_fixture.py), and an efficient-kan style training loop with only the import changed."""
from pathlib import Path

import pytest
import torch

import vkan
from vkan import KAN

FIXTURE = Path(__file__).with_name("fixtures") / "efficient_kan_reference.pt"
CASES = torch.load(FIXTURE, weights_only=False)


def build(case, **extra):
    options = dict(case["options"])
    if "base_activation" in options:
        options["base_activation"] = getattr(torch.nn, options["base_activation"])
    return KAN(case["layers"], **options, **extra)


@pytest.mark.parametrize("case", CASES, ids=["grid5-order3-silu", "grid4-order2-relu"])
def test_efficient_kan_state_dict_loads_and_gives_its_outputs_and_loss(case):
    model = build(case)
    assert set(model.state_dict()) == set(case["state"])
    model.load_state_dict(case["state"])
    with torch.no_grad():
        torch.testing.assert_close(model(case["x"]), case["out"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model.regularization_loss(0.7, 0.3), case["reg"], rtol=1e-5, atol=1e-6)


def test_same_seed_gives_efficient_kans_initial_weights():
    case = CASES[0]
    torch.manual_seed(0)
    model = build(case)
    for name, tensor in case["state"].items():
        torch.testing.assert_close(model.state_dict()[name], tensor, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("case", CASES, ids=["grid5-order3-silu", "grid4-order2-relu"])
def test_exact_grid_update_stores_what_efficient_kan_stores(case):
    model = build(case, exact_efficient_kan=True)
    model.load_state_dict(case["state"])
    with torch.no_grad():
        torch.testing.assert_close(model(case["x"], update_grid=True), case["updated_out"], rtol=1e-4, atol=1e-5)
        for name, tensor in case["updated_state"].items():
            torch.testing.assert_close(model.state_dict()[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
        torch.testing.assert_close(model(case["x"]), case["after_update_out"], rtol=1e-4, atol=1e-5)


def test_default_grid_update_keeps_the_function_where_efficient_kan_changes_it():
    case = CASES[0]
    model = build(case)
    model.load_state_dict(case["state"])
    with torch.no_grad():
        model(case["x"], update_grid=True)
        ours = model(case["x"])
    ours_drift = ((ours - case["out"]).norm() / case["out"].norm()).item()
    theirs_drift = ((case["after_update_out"] - case["out"]).norm() / case["out"].norm()).item()
    assert ours_drift < 0.25 * theirs_drift, (ours_drift, theirs_drift)  # efficient-kan multiplies the scaler in twice


def test_an_efficient_kan_training_loop_runs_with_only_the_import_changed():
    torch.manual_seed(0)
    model = KAN([20, 16, 4])  # efficient-kan's call, as in its MNIST example
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    x, y = torch.randn(256, 20), torch.randint(0, 4, (256,))
    losses = []
    for step in range(30):
        optimizer.zero_grad()
        out = model(x, update_grid=step % 10 == 0)
        loss = torch.nn.functional.cross_entropy(out, y) + 1e-5 * model.regularization_loss()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert isinstance(model.layers, torch.nn.ModuleList) and all(isinstance(m, vkan.KANLinear) for m in model.layers)


def test_kanlinear_takes_efficient_kans_arguments_and_methods():
    layer = vkan.KANLinear(5, 3, grid_size=4, spline_order=2, scale_noise=0.2, scale_base=0.5, scale_spline=2.0,
                           enable_standalone_scale_spline=True, base_activation=torch.nn.SiLU, grid_eps=0.05,
                           grid_range=[-2, 2])
    x = torch.randn(50, 5)
    assert layer.b_splines(x).shape == (50, 5, 6) and layer.scaled_spline_weight.shape == (3, 5, 6)
    target = torch.einsum("nic,oic->nio", layer.b_splines(x), layer.scaled_spline_weight)
    coef = layer.curve2coeff(x, target)  # the least-squares fit of a spline to itself is that spline
    torch.testing.assert_close(coef, layer.scaled_spline_weight.detach(), rtol=1e-3, atol=1e-4)
    layer.update_grid(x, margin=0.01)
    assert torch.isfinite(layer.regularization_loss(1.0, 1.0))


@pytest.mark.gpu
@pytest.mark.parametrize("case", CASES, ids=["grid5-order3-silu", "grid4-order2-relu"])
def test_efficient_kan_state_dict_gives_its_outputs_through_the_fused_kernels(case):
    model = build(case).cuda()
    model.load_state_dict(case["state"])
    with torch.no_grad():
        torch.testing.assert_close(model(case["x"].cuda()).cpu(), case["out"], rtol=1e-3, atol=1e-4)  # tf32 dots
