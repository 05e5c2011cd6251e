"""The fused Triton spline matmul computes the reference function and all its gradients.

On CPU these run under TRITON_INTERPRET=1 (set in conftest) with small shapes; on a GPU the same
checks run compiled, plus larger bf16 shapes, autocast and torch.compile.
"""
import pytest
import torch

from vkan import KANLinear
from vkan.ops import fused_spline_linear

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def fused_and_reference(layer, x, dtype=torch.float32, uniform=None):
    """Outputs and gradients (x, spline_weight, spline_scaler) of the spline part, fused vs reference.

    ``uniform`` picks the kernel's basis evaluation: closed form (True) or Cox-de Boor (False);
    None follows the layer's own ``grid_uniform``."""
    uniform = layer.grid_uniform if uniform is None else uniform
    grads = [p for p in (layer.spline_weight, layer.spline_scaler) if p is not None]
    results = []
    for path in ("fused", "reference"):
        xi = x.detach().clone().requires_grad_()
        if path == "fused":
            y = fused_spline_linear(xi, layer.grid, layer.scaled_spline_weight.to(dtype), layer.spline_order,
                                    uniform=uniform)
        else:
            y = layer.spline_reference(xi)
        gy = torch.sin(torch.arange(y.numel(), device=y.device, dtype=torch.float32)).reshape(y.shape)
        results.append((y, *torch.autograd.grad(y, [xi, *grads], gy.to(y.dtype))))
    return results


def make_layer(n_in, n_out, grid_size, order, standalone=True, seed=0):
    torch.manual_seed(seed)
    layer = KANLinear(n_in, n_out, grid_size=grid_size, spline_order=order,
                      enable_standalone_scale_spline=standalone).to(DEVICE)
    with torch.no_grad():  # O(1) spline weights so that errors in the spline part are not hidden
        layer.spline_weight.normal_()
    return layer


@pytest.mark.parametrize("uniform", [True, False], ids=["closed-form", "cox-de-boor"])
@pytest.mark.parametrize("order,grid_size,standalone", [
    (1, 3, True), (2, 5, False), (3, 5, True), (3, 8, False), (2, 16, True), (3, 16, True), (1, 12, False),
])
def test_fused_matches_reference_fp32_including_inputs_outside_grid(order, grid_size, standalone, uniform):
    layer = make_layer(19, 23, grid_size, order, standalone)  # sizes that fill no tile exactly
    x = torch.randn(41, 19, device=DEVICE) * 1.7  # about a quarter of the inputs lie outside [-1, 1]
    x[0, :3] = torch.tensor([5.0, -7.0, 0.61])  # far outside the grid
    if order > 1:  # knots themselves (order 1's derivative jumps there; either one-sided limit is right)
        x[1, :3] = torch.tensor([-1.0, 1.0, 0.6])
    (y, *g), (ry, *rg) = fused_and_reference(layer, x, uniform=uniform)
    assert y.dtype == torch.float32
    assert rel(y, ry) < 1e-5
    for name, a, b in zip(("x", "spline_weight", "spline_scaler"), g, rg):
        assert rel(a, b) < 1e-5, name


def test_fused_matches_reference_on_an_updated_nonuniform_grid():
    layer = make_layer(16, 24, 5, 3)
    layer.update_grid(torch.randn(500, 16, device=DEVICE) ** 3)  # strongly non-uniform knots
    assert not layer.grid_uniform  # so the kernel must take the Cox-de Boor path
    x = torch.randn(33, 16, device=DEVICE) ** 3
    (y, *g), (ry, *rg) = fused_and_reference(layer, x)
    assert rel(y, ry) < 1e-5
    for a, b in zip(g, rg):
        assert rel(a, b) < 1e-5


# numpy has no bfloat16, so Triton's interpreter cannot run bf16 tiles: bf16 is checked on the GPU only
@pytest.mark.parametrize("dtype", [pytest.param(torch.bfloat16, marks=pytest.mark.gpu), torch.float16])
def test_fused_half_precision_close_to_fp32_reference(dtype):
    layer = make_layer(32, 20, 5, 3)
    x = torch.randn(48, 32, device=DEVICE)
    (y, gx, gw, gs), (ry, rx, rw, rs) = fused_and_reference(layer, x, dtype=dtype)
    assert y.dtype == dtype and gx.dtype == torch.float32
    assert rel(y, ry) < 2e-2 and rel(gx, rx) < 2e-2 and rel(gw, rw) < 2e-2 and rel(gs, rs) < 2e-2


@pytest.mark.gpu
@pytest.mark.parametrize("m,n_in,n_out", [(16640, 192, 77), (4099, 77, 192), (1000, 384, 1536)])
def test_fused_layer_on_gpu_matches_reference_bf16_autocast(m, n_in, n_out):
    torch.manual_seed(0)
    layer = KANLinear(n_in, n_out).cuda()
    x = torch.randn(m, n_in, device="cuda", requires_grad=True)
    outs = {}
    for fused in (True, False):
        layer.fused = None if fused else False
        layer.zero_grad()
        x.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = layer(x)
        y.float().square().mean().backward()
        outs[fused] = (y.float(), x.grad.clone(), layer.spline_weight.grad.clone(), layer.spline_scaler.grad.clone())
    for a, b in zip(outs[True], outs[False]):
        assert rel(a, b) < 2e-2


@pytest.mark.gpu
def test_fused_layer_compiles_without_graph_break():
    layer = KANLinear(64, 96).cuda()
    compiled = torch.compile(layer, fullgraph=True)
    x = torch.randn(256, 64, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = compiled(x)
        ref = layer(x)
    y.float().sum().backward()
    assert rel(y, ref) < 1e-2


def test_custom_op_path_used_by_torch_compile_matches_eager_path_and_passes_opcheck():
    from vkan.ops import kan_op

    layer = make_layer(12, 10, 5, 3)
    x = torch.randn(20, 12, device=DEVICE)
    cp = kan_op.padded_coefs(layer.n_coef)
    wp = torch.nn.functional.pad(layer.scaled_spline_weight.detach(), (0, cp - layer.n_coef))
    wp = wp.permute(1, 2, 0).reshape(12 * cp, 10).contiguous().requires_grad_()
    grid = layer.grid.float().contiguous()
    aux = torch.stack([grid[:, 0], 1.0 / (grid[:, 1] - grid[:, 0])])
    outs = []
    for call in (torch.ops.vkan.spline_linear, kan_op._EagerSplineLinear.apply):
        xi = x.clone().requires_grad_()
        y = call(xi, grid, aux, wp, 3, True)
        outs.append((y, *torch.autograd.grad(y.square().sum(), [xi, wp])))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    torch.library.opcheck(torch.ops.vkan.spline_linear.default,
                          (x.clone().requires_grad_(), grid, aux, wp, 3, True),
                          test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))
