"""KANLinear against independent oracles: scipy's B-splines, the efficient-kan formula and state dict."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.interpolate import BSpline

from vkan import KANLinear, b_spline_bases


def scipy_bases(x: np.ndarray, knots: np.ndarray, order: int) -> np.ndarray:
    """(N,) inputs, one row of knots -> (N, len(knots) - order - 1) bases, zero outside each support."""
    cols = []
    for c in range(len(knots) - order - 1):
        element = BSpline.basis_element(knots[c: c + order + 2], extrapolate=False)
        cols.append(np.nan_to_num(element(x), nan=0.0))
    return np.stack(cols, axis=1)


def random_grid(n_in: int, n_knots: int, gen: torch.Generator) -> torch.Tensor:
    """Strictly increasing, non-uniform knots per input row: (n_in, n_knots)."""
    steps = torch.rand(n_in, n_knots, generator=gen, dtype=torch.float64) + 0.2
    return (torch.cumsum(steps, dim=1) - steps.sum(1, keepdim=True) / 2) * 0.5


def formula(layer: KANLinear, x: torch.Tensor) -> torch.Tensor:
    """y = silu(x) W_b^T + sum_{i,c} B_c(x_i) W_s[o,i,c] s[o,i], with scipy's bases, in float64."""
    x64 = x.double().reshape(-1, layer.in_features)
    grid = layer.grid.double().numpy()
    bases = np.stack([scipy_bases(x64[:, i].numpy(), grid[i], layer.spline_order)
                      for i in range(layer.in_features)], axis=1)  # (N, in, C)
    w = layer.spline_weight.detach().double()
    if layer.spline_scaler is not None:
        w = w * layer.spline_scaler.detach().double().unsqueeze(-1)
    spline = torch.einsum("nic,oic->no", torch.from_numpy(bases), w)
    base = F.silu(x64) @ layer.base_weight.detach().double().T
    out = base + spline
    if layer.bias is not None:
        out = out + layer.bias.detach().double()
    return out.reshape(*x.shape[:-1], layer.out_features)


@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
def test_bases_match_scipy_on_nonuniform_knots_inside_and_outside(order):
    gen = torch.Generator().manual_seed(order)
    grid = random_grid(3, 9 + 2 * order, gen)
    # inputs reach well past both ends of every row's knots
    x = (torch.rand(400, 3, generator=gen, dtype=torch.float64) - 0.5) * 2 * (grid.abs().max() + 1)
    ours = b_spline_bases(x, grid, order)
    for i in range(3):
        ref = scipy_bases(x[:, i].numpy(), grid[i].numpy(), order)
        np.testing.assert_allclose(ours[:, i].numpy(), ref, atol=1e-12)
    outside = (x < grid[:, 0]) | (x >= grid[:, -1])
    assert outside.any() and (ours[outside] == 0).all()


def test_bases_partition_of_unity_inside_grid():
    layer = KANLinear(4, 2, grid_size=7, spline_order=3)
    k, g = layer.spline_order, layer.grid_size
    lo, hi = layer.grid[:, k], layer.grid[:, g + k]
    x = lo + (hi - lo) * torch.rand(1000, 4)
    bases = layer.b_splines(x)
    torch.testing.assert_close(bases.sum(-1), torch.ones(1000, 4), atol=1e-5, rtol=0)
    assert (bases >= 0).all()


@pytest.mark.parametrize("standalone,bias,order,grid", [(True, False, 3, 5), (False, True, 2, 8), (True, True, 1, 3)])
def test_output_equals_formula_from_own_parameters(standalone, bias, order, grid):
    torch.manual_seed(0)
    layer = KANLinear(5, 7, grid_size=grid, spline_order=order, enable_standalone_scale_spline=standalone, bias=bias)
    with torch.no_grad():  # make the spline part as large as the base part so a wrong spline shows
        layer.spline_weight.normal_()
    x = torch.randn(64, 5) * 1.5  # some inputs fall outside the grid
    torch.testing.assert_close(layer(x).double(), formula(layer, x), rtol=1e-4, atol=1e-4)


def test_efficient_kan_state_dict_loads_and_gives_same_outputs():
    gen = torch.Generator().manual_seed(1)
    out_f, in_f, g, k = 6, 4, 5, 3
    state = {  # exactly the four entries of an efficient-kan KANLinear (no bias)
        "grid": random_grid(in_f, g + 2 * k + 1, gen).float(),
        "base_weight": torch.randn(out_f, in_f, generator=gen),
        "spline_weight": torch.randn(out_f, in_f, g + k, generator=gen),
        "spline_scaler": torch.randn(out_f, in_f, generator=gen),
    }
    layer = KANLinear(in_f, out_f, grid_size=g, spline_order=k)
    assert set(layer.state_dict()) == set(state)
    layer.load_state_dict(state, strict=True)
    x = torch.randn(50, in_f, generator=gen) * 2
    torch.testing.assert_close(layer(x).double(), formula(layer, x), rtol=1e-4, atol=1e-4)


def test_initialisation_equals_efficient_kan_least_squares():
    out_f, in_f, g, k, noise_scale = 5, 3, 5, 3, 0.1
    torch.manual_seed(3)
    layer = KANLinear(in_f, out_f, grid_size=g, spline_order=k)
    # replay efficient-kan's reset_parameters with the same random stream
    torch.manual_seed(3)
    base = torch.empty(out_f, in_f)
    torch.nn.init.kaiming_uniform_(base, a=math.sqrt(5))
    noise = (torch.rand(g + 1, in_f, out_f) - 0.5) * noise_scale / g
    scaler = torch.empty(out_f, in_f)
    torch.nn.init.kaiming_uniform_(scaler, a=math.sqrt(5))
    grid = layer.grid.double()
    knots = grid.T[k:-k]  # (G+1, in)
    a = b_spline_bases(knots, grid, k).transpose(0, 1)  # (in, G+1, C)
    coef = torch.linalg.lstsq(a, noise.double().transpose(0, 1), driver="gelsd").solution  # (in, C, out)
    torch.testing.assert_close(layer.base_weight, base)
    torch.testing.assert_close(layer.spline_scaler, scaler)
    torch.testing.assert_close(layer.spline_weight.double(), coef.permute(2, 0, 1), atol=1e-6, rtol=1e-5)


def test_every_parameter_gets_a_finite_gradient():
    layer = KANLinear(6, 3, bias=True)
    x = (torch.randn(10, 6) * 2).requires_grad_()
    layer(x).square().sum().backward()
    for name, p in list(layer.named_parameters()) + [("x", x)]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_leading_dims_like_nn_linear():
    layer = KANLinear(8, 5)
    x = torch.randn(2, 3, 4, 8)
    y = layer(x)
    assert y.shape == (2, 3, 4, 5)
    torch.testing.assert_close(y, layer(x.reshape(-1, 8)).reshape(2, 3, 4, 5))
    with pytest.raises(ValueError, match="expects"):
        layer(torch.randn(3, 7))


def test_bf16_autocast_close_to_fp32():
    torch.manual_seed(0)
    layer = KANLinear(32, 16)
    x = torch.randn(128, 32)
    ref = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    err = (y.float() - ref).norm() / ref.norm()
    assert err < 2e-2, err


def test_update_grid_exact_when_old_spline_is_a_cubic_on_the_data():
    """A cubic polynomial is a spline on any grid, so the re-fit must keep it to rounding."""
    torch.manual_seed(0)
    layer = KANLinear(3, 2, grid_size=6, spline_order=3, grid_range=(-3, 3))
    poly = torch.randn(2, 3, 4, dtype=torch.float64)  # (out, in, power)
    dense = torch.linspace(-2.9, 2.9, 500, dtype=torch.float64)
    a = b_spline_bases(dense[:, None].expand(-1, 3), layer.grid.double(), 3).transpose(0, 1)  # (in, 500, C)
    powers = dense[:, None] ** torch.arange(4, dtype=torch.float64)  # (500, 4)
    target = torch.einsum("np,oip->ino", powers, poly)  # (in, 500, out)
    coef = torch.linalg.lstsq(a, target).solution.permute(2, 0, 1)  # (out, in, C)
    with torch.no_grad():
        layer.spline_weight.copy_(coef / layer.spline_scaler.double().unsqueeze(-1))
    x = torch.rand(3000, 3) * 3 - 1.0  # inside the old grid, narrower than it
    before = layer(x)
    old_grid = layer.grid.clone()
    layer.update_grid(x)
    after = layer(x)
    assert (layer.grid - old_grid).abs().max() > 0.5  # the knots moved to the data
    k, g = layer.spline_order, layer.grid_size
    assert (layer.grid[:, k] <= x.min(0).values).all() and (layer.grid[:, g + k] > x.max(0).values).all()
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_update_grid_keeps_outputs_close_after_default_init():
    """On a fresh layer and inputs wider than its grid the re-fit changes outputs by under 1% (relative)."""
    torch.manual_seed(0)
    layer = KANLinear(16, 8)
    x = torch.randn(4096, 16) * 1.5
    before = layer(x)
    layer.update_grid(x)
    err = ((layer(x) - before).norm() / before.norm()).item()
    assert err < 1e-2, err
    # refitting again on the same data finds the same grid and must change nothing
    again = layer(x)
    layer.update_grid(x)
    torch.testing.assert_close(layer(x), again, rtol=1e-4, atol=1e-5)


def test_regularization_loss_is_l1_plus_entropy():
    layer = KANLinear(4, 3)
    l1 = layer.spline_weight.detach().abs().mean(-1)
    p = l1 / l1.sum()
    expected = 2.0 * l1.sum() - 0.5 * (p * p.log()).sum()
    torch.testing.assert_close(layer.regularization_loss(2.0, 0.5), expected)
    with torch.no_grad():
        layer.spline_weight[0].zero_()  # an all-zero edge must not turn the entropy into NaN
    assert torch.isfinite(layer.regularization_loss())


def test_constant_base_init_is_efficient_kans_first_initialisation():
    constant = KANLinear(3, 5, base_init="constant", scale_base=0.5, scale_spline=2.0)
    assert torch.equal(constant.base_weight, torch.full((5, 3), 0.5))
    assert torch.equal(constant.spline_scaler, torch.full((5, 3), 2.0))
    assert KANLinear(3, 5).base_weight.unique().numel() > 1  # the default stays kaiming-uniform
    with pytest.raises(ValueError, match="base_init"):
        KANLinear(3, 4, base_init="xavier")


def test_extra_repr_and_bad_arguments():
    text = repr(KANLinear(3, 4, grid_size=7, spline_order=2, base_activation="gelu"))
    assert "grid_size=7" in text and "spline_order=2" in text and "base_activation=gelu" in text
    with pytest.raises(ValueError, match="grid_range"):
        KANLinear(3, 4, grid_range=(1.0, -1.0))
    with pytest.raises(ValueError, match="base_activation"):
        KANLinear(3, 4, base_activation="swishy")


def test_grid_uniform_flag_follows_update_and_state_dict():
    layer = KANLinear(4, 3)
    assert layer.grid_uniform
    other = KANLinear(4, 3)
    other.update_grid(torch.randn(100, 4) ** 3)
    assert not other.grid_uniform
    layer.load_state_dict(other.state_dict())
    assert not layer.grid_uniform
    layer.load_state_dict(KANLinear(4, 3, grid_range=(-2, 3)).state_dict())
    assert layer.grid_uniform
