"""The fused Triton spline matmul computes the reference function and all its gradients.

On CPU these run under TRITON_INTERPRET=1 (set in conftest) with small shapes; on a GPU the same
checks run compiled, plus larger bf16 shapes, autocast and torch.compile.
"""
import pytest
import torch

from vkan import KANLinear
from vkan.ops import fused_kan_linear, fused_spline_linear, kernel_activation

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def fused_and_reference(layer, x, dtype=torch.float32, uniform=None, kernel_path="fused"):
    """Outputs and gradients (x, spline_weight, spline_scaler, base_weight) of the whole layer, fused kernels vs
    the reference path.

    ``uniform`` picks the kernel's basis evaluation: closed form (True) or Cox-de Boor (False); None follows
    the layer's own ``grid_uniform``. ``dtype`` is the kernels' compute dtype (the parameters stay fp32).
    ``kernel_path`` "gemm" runs the layer as bases written to memory and torch.mm products instead."""
    uniform = layer.grid_uniform if uniform is None else uniform
    params = [p for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight) if p is not None]
    results = []
    for path in ("fused", "reference"):
        xi = x.detach().clone().requires_grad_()
        if path == "fused":
            sw, sc, bw = (None if p is None else p.to(dtype)
                          for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight))
            y = fused_kan_linear(xi, layer.grid, sw, sc, bw, layer.spline_order, uniform=uniform,
                                 act=kernel_activation(layer.base_activation), path=kernel_path)
        else:
            layer.fused = False
            y = layer(xi)
        gy = torch.sin(torch.arange(y.numel(), device=y.device, dtype=torch.float32)).reshape(y.shape)
        results.append((y, *torch.autograd.grad(y, [xi, *params], gy.to(y.dtype))))
    return results


def make_layer(n_in, n_out, grid_size, order, standalone=True, seed=0, act="silu"):
    torch.manual_seed(seed)
    layer = KANLinear(n_in, n_out, grid_size=grid_size, spline_order=order, enable_standalone_scale_spline=standalone,
                      base_activation=act).to(DEVICE)
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
    names = ("x", "spline_weight") + ("spline_scaler",) * standalone + ("base_weight",)
    assert len(g) == len(names)
    for name, a, b in zip(names, g, rg):
        assert rel(a, b) < 1e-5, name


@pytest.mark.parametrize("base_dot", [False, True], ids=["dx-base-programs", "dx-base-dot"])
@pytest.mark.parametrize("act", ["silu", "relu", "gelu", "tanh", "identity"])
def test_fused_base_branch_matches_reference_for_every_kernel_activation(act, base_dot, monkeypatch):
    from vkan.ops import kan_op

    monkeypatch.setattr(kan_op, "DX_BASE_DOT", base_dot)  # both input-grad variants of the base term
    layer = make_layer(21, 18, 5, 3, act=act)
    with torch.no_grad():  # a base branch as large as the spline one, so that its errors show
        layer.base_weight.normal_()
    x = torch.randn(37, 21, device=DEVICE) * 2.0
    x[0, :2] = 0.0  # ReLU's kink: torch's gradient there is 0
    (y, *g), (ry, *rg) = fused_and_reference(layer, x)
    assert rel(y, ry) < 1e-5
    for name, a, b in zip(("x", "spline_weight", "spline_scaler", "base_weight"), g, rg):
        assert rel(a, b) < 1e-5, name


@pytest.mark.parametrize("uniform", [True, False], ids=["closed-form", "cox-de-boor"])
@pytest.mark.parametrize("order,grid_size,standalone,act", [
    (3, 5, True, "silu"), (2, 5, False, "gelu"), (1, 3, True, "relu"), (3, 8, True, "identity"), (2, 16, True, "tanh"),
])
def test_gemm_path_matches_reference_fp32(order, grid_size, standalone, act, uniform):
    """The GEMM path (bases written by one kernel, torch.mm products, the input grad finished by another kernel)
    computes the layer and all its gradients, on partial tiles, inputs outside the grid and either grid."""
    layer = make_layer(19, 23, grid_size, order, standalone, act=act)
    with torch.no_grad():
        layer.base_weight.normal_()
    x = torch.randn(41, 19, device=DEVICE) * 1.7
    x[0, :3] = torch.tensor([5.0, -7.0, 0.61])
    (y, *g), (ry, *rg) = fused_and_reference(layer, x, uniform=uniform, kernel_path="gemm")
    assert rel(y, ry) < 1e-5
    names = ("x", "spline_weight") + ("spline_scaler",) * standalone + ("base_weight",)
    for name, a, b in zip(names, g, rg):
        assert rel(a, b) < 1e-5, name


def test_gemm_path_weight_grad_runs_over_row_blocks_where_one_product_leaves_sms_idle():
    """The GEMM path's weight-grad product: one batched product over row blocks (fp32 partials the unpack sums)
    where the (KT, O) output is small, the blocks dividing the rows; the gradients still match the reference."""
    from vkan.ops import kan_op
    if not kan_op._BMM_OUT_DTYPE:
        pytest.skip("torch.bmm has no out_dtype here: one product always")
    blocks = kan_op._dw_row_blocks
    assert blocks(25216, 3456, 160) == 4 and blocks(25216, 1440, 384) == 4  # ViT-S/16's two layers
    assert blocks(33280, 720, 192) == 8  # ViT-tiny/4's fc2
    assert blocks(12608, 6912, 304) == 1 and blocks(12608, 2736, 768) == 1  # ViT-B/16's: output tiles enough
    assert blocks(25217, 3456, 160) == 1 and blocks(25218, 3456, 160) == 2  # only blocks that divide the rows
    a, gy = torch.randn(48, 40, device=DEVICE), torch.randn(48, 23, device=DEVICE)
    part = kan_op._dw_product(a, gy)
    assert part.shape == (8, 40, 23) and part.dtype == torch.float32
    assert torch.allclose(part.sum(0), a.t() @ gy, rtol=1e-5, atol=1e-5)
    layer = make_layer(19, 23, 5, 3)
    with torch.no_grad():
        layer.base_weight.normal_()
    x = torch.randn(48, 19, device=DEVICE) * 1.7  # 48 rows: the weight grad over 8 blocks of 6
    (y, *g), (ry, *rg) = fused_and_reference(layer, x, kernel_path="gemm")
    assert rel(y, ry) < 1e-5
    for name, got, want in zip(("x", "spline_weight", "spline_scaler", "base_weight"), g, rg):
        assert rel(got, want) < 1e-5, name


@pytest.mark.gpu
def test_weight_grad_over_row_blocks_in_bf16_sums_to_the_one_products_result():
    """On a GPU the blocks are one torch.bmm of bf16 inputs with fp32 outputs: their sum is the single product's up to
    the order of fp32 sums (ViT-S/16's fc2 shape, 4 blocks)."""
    from vkan.ops import kan_op
    torch.manual_seed(0)
    a = torch.randn(25216, 1440, device="cuda", dtype=torch.bfloat16)
    gy = torch.randn(25216, 384, device="cuda", dtype=torch.bfloat16)
    part = kan_op._dw_product(a, gy)
    assert part.shape == (4, 1440, 384) and part.dtype == torch.float32
    torch.testing.assert_close(part.sum(0), kan_op._mm_fp32(a.t(), gy), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("compiled_op", [False, True], ids=["eager", "custom-op"])
def test_gemm_keep_path_gives_the_gemm_paths_results_with_one_bases_kernel_fewer(compiled_op, monkeypatch):
    """"gemm-keep" saves A from the forward: the same output and gradients as "gemm" (bit for bit: the same A),
    with the bases kernel launched once a step instead of twice; the op (torch.compile's path) returns A beside Y
    there and an empty tensor on the other paths. "auto-keep" is "gemm-keep" where the auto rule takes the GEMM
    path (here made to take it at fp32)."""
    from vkan.ops import kan_op

    launches, rule = [], kan_op.gemm_path
    for name in ("_launch_bases", "_bases_and_pack"):  # the forward's bases kernel also packs W^T
        launch = getattr(kan_op, name)
        monkeypatch.setattr(kan_op, name, lambda *a, launch=launch: launches.append(a[0].shape) or launch(*a))
    monkeypatch.setattr(kan_op, "gemm_path", lambda n, d, path="auto": path.startswith("auto") or rule(n, d, path))
    layer = make_layer(19, 23, 5, 3)
    x = torch.randn(41, 19, device=DEVICE) * 1.7
    params = [p.detach().clone().requires_grad_()
              for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight)]
    results, counts = {}, {}
    for path in ("gemm", "gemm-keep") + (("auto-keep",) if compiled_op else ()):  # eager resolves "auto-keep" before
        args = (3, True, 1, torch.float32, path)
        xi = x.clone().requires_grad_()
        launches.clear()
        if compiled_op:
            y, a, _ = torch.ops.vkan.kan_linear(xi, layer.grid, *params, *args)
            assert a.shape == ((41, 19 * 8 + 19) if path.endswith("keep") else (0,)) and not a.requires_grad
        else:
            y = kan_op._EagerKANLinear.apply(xi, layer.grid, *params, *args)
        results[path] = (y, *torch.autograd.grad(y.square().sum(), [xi, *params]))
        counts[path] = len(launches)
        if compiled_op and not kan_op._TRACEABLE:  # the CPU op's fake kernel (what torch.compile traces) agrees
            torch.library.opcheck(torch.ops.vkan.kan_linear.default, (x, layer.grid, *params, *args),
                                  test_utils=("test_faketensor",))
    assert counts == {"gemm": 2, "gemm-keep": 1, **({"auto-keep": 1} if compiled_op else {})}
    for path in results:
        for a, b in zip(results["gemm"], results[path]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_eager_calls_take_the_fused_kernels_on_auto_and_auto_keep(monkeypatch):
    """Outside torch.compile "auto" and "auto-keep" are the fused path (the GEMM path's extra launches cost more on
    the host than they save there); a named path is passed on as it is."""
    from vkan.ops import kan_op

    seen = []
    monkeypatch.setattr(kan_op._EagerKANLinear, "apply", staticmethod(lambda *args: seen.append(args[-1])))
    layer = make_layer(4, 3, 5, 3)
    for path in ("auto", "auto-keep", "gemm-keep", "gemm", "fused"):
        kan_op.fused_kan_linear(torch.randn(2, 4, device=DEVICE), layer.grid, layer.spline_weight, path=path)
    assert seen == ["fused", "fused", "gemm-keep", "gemm", "fused"]


def test_kernel_path_auto_takes_the_gemm_path_for_wide_16_bit_layers_and_auto_keep_from_80_under_compile_only(
        monkeypatch):
    from vkan.ops import kan_op

    monkeypatch.setattr(kan_op, "_MM_OUT_DTYPE", True)
    assert kan_op.gemm_path(768, torch.bfloat16) and kan_op.gemm_path(160, torch.float16)
    assert not kan_op.gemm_path(80, torch.bfloat16)  # ViT-tiny's fc1: the fused path is faster
    assert not kan_op.gemm_path(768, torch.float32)  # not measured in fp32
    assert kan_op.gemm_path(8, torch.float32, "gemm") and not kan_op.gemm_path(768, torch.bfloat16, "fused")
    assert kan_op.gemm_path(8, torch.float32, "gemm-keep")
    # "auto-keep" takes the GEMM path, keeping the bases, from 80 outputs (ViT-tiny's fc1) at 16 bits; fp32 fused
    assert all(kan_op.gemm_path(n, torch.bfloat16, "auto-keep") for n in (80, 96, 768))
    assert not kan_op.gemm_path(64, torch.bfloat16, "auto-keep") and not kan_op.keeps_bases(64, torch.bfloat16,
                                                                                            "auto-keep")
    assert kan_op.keeps_bases(8, torch.float32, "gemm-keep") and kan_op.keeps_bases(80, torch.bfloat16, "auto-keep")
    assert not kan_op.gemm_path(80, torch.float32, "auto-keep")
    assert not kan_op.keeps_bases(768, torch.float32, "auto-keep")
    assert not any(kan_op.keeps_bases(768, torch.bfloat16, path) for path in ("auto", "gemm", "fused"))
    with pytest.raises(ValueError, match="'auto', 'auto-keep', 'fused', 'gemm'"):
        kan_op.gemm_path(8, torch.float32, "cublas")
    monkeypatch.setattr(kan_op, "_MM_OUT_DTYPE", False)  # torch < 2.8: dW would be rounded to 16 bits
    assert not kan_op.gemm_path(768, torch.bfloat16) and not kan_op.gemm_path(80, torch.bfloat16, "auto-keep")
    seen = []  # eager mode: "auto" reaches the kernels as the fused path, whatever the shape
    monkeypatch.setattr(kan_op, "gemm_path", lambda *args: seen.append(args[-1]) or False)
    layer = make_layer(8, 130, 5, 3)
    x = torch.randn(4, 8, device=DEVICE, requires_grad=True)
    y = fused_kan_linear(x, layer.grid, layer.spline_weight, layer.spline_scaler, layer.base_weight, 3, True)
    y.sum().backward()
    assert seen == ["fused", "fused"]  # forward and backward


def test_input_grad_base_term_variant_follows_block_alignment():
    """The base-dot input-grad variant runs only on full, aligned input blocks; the shape where it faulted on
    the H200 (154 inputs: a partial last block, W^T rows not 16-byte aligned) gets the separate programs."""
    from vkan.ops import kan_op

    def separate(n_in, n_out):
        kt = n_in * 8 + n_in  # CP = 8 coefficients + the base row per input
        return kan_op._dx_geometry(4096, n_in, n_out, kt, 12, 8, 3, True, 1, True, None, torch.bfloat16, "tf32")[-1]

    assert not separate(192, 768) and not separate(384, 154)
    assert separate(154, 384) and separate(77, 192)


def packed_layer_inputs(n_in, n_out, has_base, grid=5, order=3):
    """A layer (grid 5, order 3 unless given), its kernel compute dtype (bf16 on the GPU; fp32 under the interpreter,
    whose 16-bit dots are not exact), packed W, W^T and padded coefficients, and X, dY over a partial last row
    block."""
    from vkan.ops import kan_op

    layer = make_layer(n_in, n_out, grid, order)
    dtype = torch.bfloat16 if DEVICE == "cuda" else torch.float32
    bw = layer.base_weight.detach() if has_base else None
    w, wt, cp = kan_op._pack(layer.spline_weight.detach(), layer.spline_scaler.detach(), bw, dtype)
    m = 4099 if DEVICE == "cuda" else 53
    x = torch.randn(m, n_in, device=DEVICE) * 1.7
    gy = torch.randn(m, n_out, device=DEVICE, dtype=dtype)
    return layer, dtype, w, wt, cp, x, gy


@pytest.mark.parametrize("uniform", [True, False], ids=["closed-form", "cox-de-boor"])
@pytest.mark.parametrize("n_in,n_out,has_base", [(32, 16, True), (32, 24, True), (16, 40, False), (48, 80, True)],
                         ids=["one-piece", "two-pieces", "spline-only", "tiny-fc1-like"])
def test_input_grad_with_held_weight_columns_matches_the_tiled_kernel(n_in, n_out, has_base, uniform):
    """kan_dx_rows_kernel (each program's W^T columns held for all its rows, the outputs in one or two power-of-two
    pieces) gives the tiled input-grad kernel's dX, on partial row blocks and either grid, whether each program takes
    one row block or walks them all. On a GPU its uniform-grid derivatives are in packed fp16
    (tests/test_packed_bases.py), the tiled kernel's in fp32."""
    from vkan.ops import kan_op

    layer, dtype, _, wt, cp, x, gy = packed_layer_inputs(n_in, n_out, has_base)
    assert kan_op._dx_rows_fits(n_in, n_out, wt.shape[1], cp, dtype)
    ref = kan_op._launch_dx(gy, x, layer.grid, wt, cp, 3, uniform, 1, has_base)
    tol = 4e-3 if kan_op._packed(dtype, 3, uniform) else 1e-5
    for tiles in ((), (64, 4, 3, 1)):  # the default split, then one program an input block walking every row block
        got = kan_op._launch_dx_rows(gy, x, layer.grid, wt, cp, 3, uniform, 1, has_base, tiles)
        assert rel(got, ref) < tol, tiles


@pytest.mark.parametrize("grid,order", [(3, 1), (5, 2)], ids=["order-1-4-coefs", "order-2-7-of-8-coefs"])
@pytest.mark.parametrize("uniform", [True, False], ids=["closed-form", "cox-de-boor"])
def test_input_grad_with_held_weight_columns_matches_the_tiled_kernel_at_orders_1_and_2(grid, order, uniform):
    """kan_dx_rows_kernel at spline orders 1 and 2 (4 coefficients, and 7 padded to 8) gives the tiled input-grad
    kernel's dX: its held columns are coefficient-major whatever the coefficient count, and its fp32 derivatives (no
    packed form below order 3) are the cardinal B-splines' of that order."""
    from vkan.ops import kan_op

    layer, dtype, _, wt, cp, x, gy = packed_layer_inputs(32, 24, True, grid, order)
    assert cp == grid + order + (order == 2) and kan_op._dx_rows_fits(32, 24, wt.shape[1], cp, dtype)
    assert not kan_op._packed(dtype, order, uniform)
    ref = kan_op._launch_dx(gy, x, layer.grid, wt, cp, order, uniform, 1, True)
    got = kan_op._launch_dx_rows(gy, x, layer.grid, wt, cp, order, uniform, 1, True)
    assert rel(got, ref) < 1e-5


@pytest.mark.parametrize("n_in,n_out", [(48, 80), (19, 23)], ids=["whole-pack-tiles", "partial-tiles"])
@pytest.mark.parametrize("has_scaler,has_base", [(True, True), (False, True), (False, False)],
                         ids=["full", "scaler-free", "spline-only"])
def test_gemm_path_packs_in_its_bases_kernels_launch_with_the_separate_launches_results(n_in, n_out, has_scaler,
                                                                                         has_base):
    """The GEMM path's forward packs W^T in its bases kernel's launch: the same W^T, A and Y, bit for bit, as the pack
    and bases kernels launched one by one, with and without the scaler and base branch and at tiles that the layer
    does not fill (the compute dtype is bf16 on a GPU, fp32 under the interpreter)."""
    from vkan.ops import kan_op

    layer = make_layer(n_in, n_out, 5, 3)
    dtype = torch.bfloat16 if DEVICE == "cuda" else torch.float32
    sw = layer.spline_weight.detach()
    sc = layer.spline_scaler.detach() if has_scaler else None
    bw = layer.base_weight.detach() if has_base else None
    x = torch.randn(100, n_in, device=DEVICE) * 1.7
    y, w, wt, cp, a = kan_op._forward(x, layer.grid, sw, sc, bw, 3, True, 1, dtype, "gemm-keep")
    _, wt_alone, _ = kan_op._pack(sw, sc, bw, dtype, with_w=False)
    a_alone = kan_op._launch_bases(x, layer.grid, wt.shape[1], cp, 3, True, 1, has_base, dtype)
    assert w is None and torch.equal(wt, wt_alone) and torch.equal(a, a_alone)
    assert torch.equal(y, torch.mm(a_alone, wt_alone.t()))


def test_input_grad_takes_the_held_columns_kernel_where_it_measured_faster(monkeypatch, request):
    """16-bit layers of up to 160 outputs on a uniform grid and whole, aligned input blocks (ViT-tiny's and ViT-S/16's
    fc1) take kan_dx_rows_kernel; wider layers, fp32, non-uniform grids, partial input blocks and layers whose columns
    would not fit keep their path's kernels."""
    from vkan.ops import kan_op

    monkeypatch.setattr(kan_op, "_INTERPRET", False)  # the GPU's rule, shared-memory limit included
    kan_op._dx_rows_chosen.cache_clear()
    request.addfinalizer(kan_op._dx_rows_chosen.cache_clear)  # no answer cached under the GPU's rule stays

    def chosen(n_in, n_out, dtype=torch.bfloat16, uniform=True, cp=8):
        return kan_op._dx_rows_chosen(n_in, n_out, n_in * (cp + 1), cp, dtype, uniform)  # + a base row an input

    assert chosen(192, 80) and chosen(384, 160) and chosen(192, 77)
    assert not chosen(80, 192) and not chosen(768, 304) and not chosen(384, 160, torch.float32)
    assert not chosen(154, 160)  # a partial last input block
    assert not chosen(384, 160, uniform=False)  # Cox-de Boor bases: slower there
    assert not chosen(384, 160, cp=16)  # finer grids: a wider accumulator a program, not timed
    assert kan_op._dx_rows_fits(192, 256, 192 * 9, 8, torch.bfloat16)  # 256 x 144 columns: 72 KiB held
    assert not kan_op._dx_rows_fits(384, 768, 384 * 9, 8, torch.bfloat16)  # 768 x 144: 216 KiB
    assert kan_op._output_pieces(160) == (128, 32) and kan_op._output_pieces(80) == (64, 16)
    assert kan_op._output_pieces(128) == (128, 0) and kan_op._output_pieces(8) == (16, 0)


@pytest.mark.parametrize("n_in,n_out,has_base", [(32, 80, True), (48, 160, True), (16, 96, False)],
                         ids=["80=64+16", "160=128+32", "spline-only-96=64+32"])
def test_forward_and_weight_grad_in_two_output_pieces_match_bases_materialised_in_pytorch(n_in, n_out, has_base):
    """The forward and weight-grad kernels with the outputs as one tile in two power-of-two pieces (N2 > 0, as 16-bit
    layers of 80 and 160 outputs launch them on the GPU) give A @ W and A^T @ dY for A = [B(X), act(X)] evaluated by the
    layer's PyTorch code, on partial row blocks."""
    from vkan.ops import kan_op

    layer, dtype, w, _, cp, x, gy = packed_layer_inputs(n_in, n_out, has_base)
    m, kt, q = x.shape[0], w.shape[0], layer.grid.shape[1]
    a = layer.b_splines(x).flatten(1)  # (M, I*C) with columns (i, c), C = CP = 8 here: the kernels' layout
    if has_base:
        a = torch.cat([a, torch.nn.functional.silu(x)], 1)
    a = a.to(dtype).float()  # the kernels' operand is rounded to the compute dtype
    bn, n2 = kan_op._output_pieces(n_out)
    assert kan_op._exact_pieces(n_out) and cp == 8
    fwd = kan_op._fwd_geometry(m, n_in, n_out, q, cp, 3, True, 1, has_base, dtype, kan_op._precision(dtype))
    y = torch.full((m, n_out), float("nan"), device=DEVICE, dtype=dtype)
    kan_op._FWD(kan_op._FWD.rebind(fwd, grid=(fwd.grid[0], 1), BN=bn, N2=n2), x_ptr=x, grid_ptr=layer.grid, w_ptr=w,
                y_ptr=y)
    dw, n_split = kan_op._dw_geometry(m, n_in, n_out, kt, q, cp, 3, True, 1, has_base, dtype, kan_op._precision(dtype))
    part = torch.full((n_split, kt, n_out), float("nan"), device=DEVICE)
    kan_op._DW(kan_op._DW.rebind(dw, grid=(dw.grid[0], 1, n_split), BN=bn, N2=n2), gy_ptr=gy, x_ptr=x,
               grid_ptr=layer.grid, part_ptr=part)
    tol = 3e-3 if dtype == torch.bfloat16 else 1e-5  # Y is rounded to bf16 on the GPU
    assert rel(y, a @ w.float()) < tol
    assert rel(part.sum(0), a.t() @ gy.float()) < tol


def test_forward_and_weight_grad_take_two_output_pieces_where_they_measured_faster(monkeypatch, request):
    """On the GPU's rule, 16-bit layers of 160 outputs (ViT-S/16's fc1) run the forward as one 128 + 32 output tile, and
    the weight grad of 80 and 160 outputs (ViT-tiny's and ViT-S/16's fc1) takes one 64 + 16 or 128 + 32 tile in 16
    splits; the forward at 80, layers of 192 outputs, pieces that would mask columns and fp32 keep whole tiles."""
    from vkan.ops import kan_op

    monkeypatch.setattr(kan_op, "_INTERPRET", False)
    for geometry in (kan_op._fwd_geometry, kan_op._dw_geometry):
        geometry.cache_clear()
        request.addfinalizer(geometry.cache_clear)  # no launch cached under the GPU's rule stays

    def fwd(n_in, n_out, dtype=torch.bfloat16):
        launch = kan_op._fwd_geometry(25216, n_in, n_out, 12, 8, 3, True, 1, True, dtype, "tf32")
        args = kan_op._FWD.arguments(launch)
        return args["BN"], args["N2"], launch.grid[1]

    def dw(n_in, n_out, dtype=torch.bfloat16):
        launch, split = kan_op._dw_geometry(25216, n_in, n_out, n_in * 9, 12, 8, 3, True, 1, True, dtype, "tf32")
        args = kan_op._DW.arguments(launch)
        return args["BN"], args["N2"], launch.grid[1], split

    assert fwd(384, 160) == (128, 32, 1) and fwd(192, 80) == (128, 0, 1) and fwd(80, 192)[1] == 0
    assert fwd(384, 160, torch.float32)[1] == 0
    assert dw(192, 80) == (64, 16, 1, 16) and dw(384, 160) == (128, 32, 1, 16)
    assert dw(80, 192)[1] == 0 and dw(384, 154)[1] == 0 and dw(192, 80, torch.float32)[1] == 0
    assert dw(192, 112)[:2] == (128, 0)  # 64 + 64 would mask 16 columns: one 128-column tile, as before
    assert dw(192, 128) == (128, 0, 1, 32)  # one whole piece: the 128-column tile in 32 splits, as before
    assert not kan_op._exact_pieces(40) and not kan_op._exact_pieces(112) and not kan_op._exact_pieces(128)
    assert kan_op._exact_pieces(96) and kan_op._exact_pieces(144)


def test_spline_only_call_matches_reference_spline_part():
    layer = make_layer(13, 9, 5, 3)
    x = torch.randn(30, 13, device=DEVICE, requires_grad=True)
    w = layer.scaled_spline_weight.detach().requires_grad_()
    ref = layer.spline_reference(x)
    rx, rs = torch.autograd.grad(ref.square().sum(), [x, layer.spline_weight])
    for kernel_path in ("fused", "gemm"):
        y = fused_spline_linear(x, layer.grid, w, 3, uniform=True, path=kernel_path)
        assert rel(y, ref) < 1e-5
        gx, gw = torch.autograd.grad(y.square().sum(), [x, w])
        assert rel(gx, rx) < 1e-5
        assert rel(gw * layer.spline_scaler.unsqueeze(-1), rs) < 1e-5  # chain rule through the scaler


@pytest.mark.parametrize("kernel_path", ["fused", "gemm", "gemm-keep"])
def test_spline_only_call_traced_by_torch_compile_matches_eager(kernel_path):
    """Under torch.compile (aot_eager: the op's fake and autograd registrations, no inductor) a spline-only call
    gives eager's output and gradients: its two absent parameter gradients are separate empty tensors (a custom
    op's outputs may not alias each other)."""
    layer = make_layer(8, 6, 5, 3)
    x = torch.randn(10, 8, device=DEVICE, requires_grad=True)
    w = layer.scaled_spline_weight.detach().requires_grad_()

    def call(x, w):
        return fused_spline_linear(x, layer.grid, w, 3, uniform=True, path=kernel_path)

    outs = []
    for fn in (torch.compile(call, backend="aot_eager", fullgraph=True), call):
        y = fn(x, w)
        outs.append((y, *torch.autograd.grad(y.square().sum(), [x, w])))
    torch._dynamo.reset()
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)


def test_kernel_activation_codes():
    import torch.nn as nn

    assert kernel_activation(nn.SiLU()) == 1 and kernel_activation(nn.GELU()) == 3
    assert kernel_activation(nn.GELU(approximate="tanh")) is None  # not in the kernels: base branch in torch
    assert kernel_activation(nn.Softplus()) is None


@pytest.mark.parametrize("kernel_path", ["fused", "gemm", "gemm-keep"])
def test_fused_matches_reference_on_an_updated_nonuniform_grid(kernel_path):
    layer = make_layer(16, 24, 5, 3)
    layer.update_grid(torch.randn(500, 16, device=DEVICE) ** 3)  # strongly non-uniform knots
    assert not layer.grid_uniform  # so the kernel must take the Cox-de Boor path
    x = torch.randn(33, 16, device=DEVICE) ** 3
    (y, *g), (ry, *rg) = fused_and_reference(layer, x, kernel_path=kernel_path)
    assert rel(y, ry) < 1e-5
    for a, b in zip(g, rg):
        assert rel(a, b) < 1e-5


# numpy has no bfloat16, so Triton's interpreter cannot run bf16 tiles: bf16 is checked on the GPU only
@pytest.mark.parametrize("dtype", [pytest.param(torch.bfloat16, marks=pytest.mark.gpu), torch.float16])
def test_fused_half_precision_close_to_fp32_reference(dtype):
    layer = make_layer(32, 20, 5, 3)
    x = torch.randn(48, 32, device=DEVICE)
    (y, *g), (ry, *rg) = fused_and_reference(layer, x, dtype=dtype)
    assert y.dtype == dtype and g[0].dtype == torch.float32
    assert rel(y, ry) < 2e-2
    for a, b in zip(g, rg):
        assert rel(a, b) < 2e-2


@pytest.mark.gpu
@pytest.mark.parametrize("m,n_in,n_out", [(16640, 192, 77), (4099, 77, 192), (1000, 384, 1536), (25216, 384, 154),
                                          (25216, 154, 384)])  # ViT-tiny, ViT-S/16 layers and a wide one
@pytest.mark.parametrize("kernel_path", ["fused", "gemm", "gemm-keep"])
def test_fused_layer_on_gpu_matches_reference_bf16_autocast(m, n_in, n_out, kernel_path):
    torch.manual_seed(0)
    layer = KANLinear(n_in, n_out).cuda()
    layer.kernel_path = kernel_path
    x = torch.randn(m, n_in, device="cuda", requires_grad=True)
    outs = []
    for fused in (False, True, True):  # the second fused call reuses the bound launches of the first
        layer.fused = None if fused else False
        layer.zero_grad()
        x.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = layer(x)
        y.float().square().mean().backward()
        outs.append((y.float(), x.grad.clone(), *(p.grad.clone() for p in layer.parameters())))
    for a, b in zip(outs[1], outs[0]):
        assert rel(a, b) < 2e-2
    for a, b in zip(outs[2], outs[1]):
        assert torch.equal(a, b)  # same kernels, same inputs: bitwise the same


@pytest.mark.gpu
@pytest.mark.parametrize("kernel_path", ["fused", "gemm", "gemm-keep"])
def test_fused_layer_compiles_without_graph_break(kernel_path):
    """torch.compile traces the triton_op's kernels (fullgraph: no break) and its gradients match eager."""
    torch.manual_seed(0)
    layer = KANLinear(64, 96).cuda()
    layer.kernel_path = kernel_path
    compiled = torch.compile(layer, fullgraph=True)
    x = torch.randn(256, 64, device="cuda")
    outs = []
    for module in (compiled, layer):
        xi = x.clone().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = module(xi)
        grads = torch.autograd.grad(y.float().square().mean(), [xi, *layer.parameters()])
        outs.append((y.float(), *grads))
    for a, b in zip(*outs):
        assert rel(a, b) < 1e-2


@pytest.mark.gpu
@pytest.mark.parametrize("kernel_path", ["auto", "auto-keep"])
def test_compiled_layer_takes_the_gemm_path_where_auto_says_so(kernel_path, monkeypatch):
    """Under torch.compile, "auto" sends a bf16 layer with 160 outputs to the GEMM path and one with 80 to the fused
    path, "auto-keep" both to the GEMM path (keeping the bases), and each matches the eager (fused) layer."""
    from vkan.ops import kan_op

    chosen = []  # (outputs, GEMM path?) of the calls that left the choice to the auto rule: the compiled layer's
    rule = kan_op.gemm_path

    def recording(n_out, dtype, path="auto"):
        gemm = rule(n_out, dtype, path)
        if path.startswith("auto"):  # the eager layer's calls arrive as "fused"
            chosen.append((n_out, gemm))
        return gemm

    monkeypatch.setattr(kan_op, "gemm_path", recording)
    for n_out, expected in ((160, True), (80, kernel_path == "auto-keep")):
        torch.manual_seed(0)
        layer = KANLinear(64, n_out).cuda()
        layer.kernel_path = kernel_path
        x = torch.randn(512, 64, device="cuda")
        outs = []
        for module in (torch.compile(layer), layer):
            xi = x.clone().requires_grad_()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                y = module(xi)
            outs.append((y.float(), *torch.autograd.grad(y.float().square().mean(), [xi, *layer.parameters()])))
        for a, b in zip(*outs):
            assert rel(a, b) < 1e-2
        assert (n_out, expected) in chosen and (n_out, not expected) not in chosen
        torch._dynamo.reset()


@pytest.mark.parametrize("kernel_path", ["fused", "gemm", "gemm-keep", "auto-keep"])
def test_custom_op_path_used_by_torch_compile_matches_eager_path_and_passes_opcheck(kernel_path):
    from vkan.ops import kan_op

    layer = make_layer(12, 10, 5, 3)
    x = torch.randn(20, 12, device=DEVICE)
    params = [p.detach().clone().requires_grad_()
              for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight)]
    args = (3, True, 1, torch.float32, kernel_path)
    outs = []
    for call in (lambda *a: torch.ops.vkan.kan_linear(*a)[0], kan_op._EagerKANLinear.apply):
        xi = x.clone().requires_grad_()
        y = call(xi, layer.grid, *params, *args)
        outs.append((y, *torch.autograd.grad(y.square().sum(), [xi, *params])))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    torch.library.opcheck(torch.ops.vkan.kan_linear.default, (x.clone().requires_grad_(), layer.grid, *params, *args),
                          test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))
    torch.library.opcheck(torch.ops.vkan.kan_linear.default, (x, layer.grid, params[0], None, None, *args),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("kernel_path", ["fused", "gemm-keep"])
def test_custom_op_backward_reuses_the_forwards_packed_weights(monkeypatch, kernel_path):
    from vkan.ops import kan_op

    packs = []
    for name in ("_pack", "_bases_and_pack"):  # the GEMM path packs W^T in its bases kernel's launch
        pack = getattr(kan_op, name)
        monkeypatch.setattr(kan_op, name, lambda *a, pack=pack, **kw: packs.append(a[-1]) or pack(*a, **kw))
    layer = make_layer(12, 10, 5, 3)
    x = torch.randn(20, 12, device=DEVICE, requires_grad=True)
    params = [p.detach().clone().requires_grad_()
              for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight)]
    y, _, wt = torch.ops.vkan.kan_linear(x, layer.grid, *params, 3, True, 1, torch.float32, kernel_path)
    assert not wt.requires_grad and wt.shape == (10, 12 * 8 + 12)
    y.square().sum().backward()
    assert packs == [torch.float32] and all(t.grad is not None for t in (x, *params))


@pytest.mark.parametrize("n_out,n_in,n_coef,n_split", [(23, 19, 8, 3), (260, 256, 6, 3), (260, 250, 8, 3),
                                                         (23, 19, 19, 40)],
                         ids=["narrow-tiles", "wide-tiles", "wide-tiles-partial-input-block", "32-coefs-40-partials"])
def test_pack_and_unpack_kernels_lay_out_weights_and_gradients(n_out, n_in, n_coef, n_split):
    from vkan.ops import kan_op

    torch.manual_seed(0)
    sw = torch.randn(n_out, n_in, n_coef, device=DEVICE)
    sc, bw = torch.randn(n_out, n_in, device=DEVICE), torch.randn(n_out, n_in, device=DEVICE)
    w, wt, cp = kan_op._pack(sw, sc, bw, torch.float32)
    spline = torch.nn.functional.pad(sw * sc[..., None], (0, cp - n_coef))  # (O, I, CP), zero padding
    expected = torch.cat([spline.permute(1, 2, 0).reshape(n_in * cp, n_out), bw.t()])  # (I*CP + I, O)
    assert torch.equal(w, expected) and torch.equal(wt, expected.t())
    no_w, wt_alone, _ = kan_op._pack(sw, sc, bw, torch.float32, with_w=False)  # W^T alone
    assert no_w is None and torch.equal(wt_alone, wt)
    part = torch.randn(n_split, n_in * cp + n_in, n_out, device=DEVICE)  # split partials of dW, added one a load
    dsw, dsc, db = kan_op._unpack(part, sw, sc, bw, cp)
    g = part.sum(0)
    gs = g[: n_in * cp].reshape(n_in, cp, n_out)[:, :n_coef].permute(2, 0, 1)  # (O, I, C)
    close = dict(rtol=1e-5, atol=1e-4)  # fp32 sums of up to 40 partials, in the kernel's order or torch's
    torch.testing.assert_close(dsw, gs * sc[..., None], **close)
    torch.testing.assert_close(dsc, (gs * sw).sum(-1), **close)
    torch.testing.assert_close(db, g[n_in * cp:].t(), **close)


class PaddedAllocations:
    """Stands in for ``torch`` inside ``vkan.ops.kan_op``: every buffer the launchers allocate (``empty``,
    ``empty_like``, ``zeros``) is a view in the middle of a larger one filled with a sentinel, so that a kernel
    writing outside its buffer changes the sentinel around it."""

    PAD, SENTINEL = 4096, -12345.0

    def __init__(self):
        self.buffers = []

    def __getattr__(self, name):
        return getattr(torch, name)

    def empty(self, shape, *, device=None, dtype=None):
        n = torch.Size(shape).numel()
        whole = torch.full((n + 2 * self.PAD,), self.SENTINEL, dtype=dtype, device=device)
        self.buffers.append((whole, n))
        return whole[self.PAD:self.PAD + n].view(shape)

    def empty_like(self, t):
        return self.empty(t.shape, device=t.device, dtype=t.dtype)

    def zeros(self, shape, *, device=None, dtype=None):
        return self.empty(shape, device=device, dtype=dtype).zero_()

    def overwritten(self) -> int:
        """Sentinel elements changed around the buffers handed out."""
        return sum(int((torch.cat([w[:self.PAD], w[self.PAD + n:]]) != self.SENTINEL).sum()) for w, n in self.buffers)


def inside_nan(t: torch.Tensor, pad: int = 4096) -> torch.Tensor:
    """A copy of ``t`` in the middle of a NaN-filled buffer: a kernel reading outside it brings NaN into its result."""
    whole = torch.full((t.numel() + 2 * pad,), float("nan"), dtype=t.dtype, device=t.device)
    view = whole[pad:pad + t.numel()].view(t.shape)
    view.copy_(t)
    return view


@pytest.mark.slow
@pytest.mark.parametrize("n_in,n_out,base_dot,kernel_path,held", [
    # the fc1 layers (192 inputs, 96 and 160 below) take the input grad that holds W^T's columns (kan_dx_rows_kernel)
    (192, 77, None, "fused", True), (77, 192, None, "fused", True),
    # widths that are multiples of 16: 80 and 160 take one output tile in two pieces in the weight grad (64 + 16,
    # 128 + 32), 160 in the forward too
    (192, 80, None, "fused", True), (96, 160, None, "fused", True),
    # the tiled input grad's base-dot variant on whole input blocks, where the held-columns kernel would take the layer
    (192, 80, None, "fused", False),
    # the GEMM path's bases and input-grad kernels on partial tiles
    (192, 77, None, "gemm", True), (77, 192, None, "gemm", True),
    # the base-dot input grad forced onto 77 inputs (not its default there): its index arithmetic, on the CPU only,
    # since on the H200 this variant faulted at 154 inputs (misaligned rows, which the interpreter cannot show)
    pytest.param(77, 192, True, "fused", True,
                 marks=pytest.mark.skipif(DEVICE == "cuda", reason="faulted on the H200"))],
    ids=["192-77", "77-192", "192-80", "96-160", "192-80-tiled", "192-77-gemm", "77-192-gemm", "77-192-base-dot"])
def test_kernels_read_and_write_only_inside_their_buffers_at_the_gpus_tile_sizes(n_in, n_out, base_dot, kernel_path,
                                                                                  held, monkeypatch):
    """ViT-tiny's feed-forward layers at the matched width 77 (partial last tiles everywhere), and layers 80 and 160
    wide (one output tile in two pieces), forward and backward, with the tile sizes a
    GPU uses (under the interpreter on CPU; fp16 stands in for bf16's 16-bit tiles): the
    buffers the launchers allocate are fenced with a sentinel, the inputs with NaN, and the output and every
    gradient must match the reference. ``held`` False keeps the tiled input grad where kan_dx_rows_kernel would run."""
    from vkan.ops import kan_op

    geometries = [kan_op._pack_geometry, kan_op._fwd_geometry, kan_op._dx_geometry, kan_op._dw_geometry,
                  kan_op._unpack_geometry, kan_op._bases_geometry, kan_op._dx_bases_geometry,
                  kan_op._dx_rows_geometry, kan_op._dx_rows_chosen]
    allocations = PaddedAllocations()
    monkeypatch.setattr(kan_op, "_INTERPRET", False)  # the launch geometries read it: the GPU's tile sizes
    monkeypatch.setattr(kan_op, "DX_BASE_DOT", base_dot)
    if not held:
        monkeypatch.setattr(kan_op, "_dx_rows_chosen", lambda *shape: False)
    monkeypatch.setattr(kan_op, "torch", allocations)
    for geometry in geometries:
        geometry.cache_clear()
    try:
        layer = make_layer(n_in, n_out, 5, 3)
        params = [inside_nan(p.detach().half()).requires_grad_()
                  for p in (layer.spline_weight, layer.spline_scaler, layer.base_weight)]
        x = inside_nan((torch.randn(195, n_in, device=DEVICE) * 1.7).half()).requires_grad_()
        y = fused_kan_linear(x, inside_nan(layer.grid), *params, 3, uniform=True,
                             act=kernel_activation(layer.base_activation), path=kernel_path)
        gy = inside_nan(torch.randn(y.shape, device=DEVICE).half())
        grads = torch.autograd.grad(y, [x, *params], gy)
    finally:
        for geometry in geometries:
            geometry.cache_clear()
    assert allocations.buffers and allocations.overwritten() == 0
    for t in (y, *grads):
        assert torch.isfinite(t.float()).all()  # nothing read outside its buffer, nothing left unwritten
    layer.fused = False  # the PyTorch reference, with the fp32 parameters the fp16 ones were rounded from
    xr = x.detach().float().requires_grad_()
    ry = layer(xr)
    ref_grads = torch.autograd.grad(ry, [xr, layer.spline_weight, layer.spline_scaler, layer.base_weight], gy.float())
    assert rel(y.float(), ry) < 3e-3
    for name, a, b in zip(("x", "spline_weight", "spline_scaler", "base_weight"), grads, ref_grads):
        assert rel(a.float(), b) < 3e-3, name
