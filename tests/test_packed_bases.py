"""The uniform cubic bases in packed fp16 (``triton_kan._cubic_packed``): the two PTX strings, run here by a small
emulator of the instructions they use (each f16x2 operation on numpy fp16 pairs, rounded once as the GPU rounds it),
against the B-spline in fp64; the rule that picks them; and, on a GPU, the row kernels against their fp32 form."""
import numpy as np
import pytest
import torch

from vkan.ops import kan_op, triton_kan as tk


def run_ptx(src: str, v: np.ndarray) -> np.ndarray:
    """``src`` (one of the packed-bases strings) on the fp16 values ``v`` (an even count), as fp64."""
    regs = {"$1": v.astype(np.float16).view(np.uint32)}

    def half(r):
        return regs[r].view(np.float16).astype(np.float64)

    def put(d, x):  # one rounding to fp16 of the exact result (fp64 holds fp16 products and sums exactly)
        regs[d] = x.astype(np.float16).view(np.uint32)

    for stmt in src.strip().strip("{}").split(";"):
        stmt = stmt.strip()
        if not stmt or stmt.startswith(".reg"):
            continue
        op, args = stmt.split(None, 1)
        d, *a = (t.strip() for t in args.split(","))

        def bits(t):
            return regs[t] if t in regs else np.full_like(regs["$1"], int(t, 0))
        if op == "mov.b32":
            regs[d] = bits(a[0]).copy()
        elif op == "and.b32":
            regs[d] = bits(a[0]) & bits(a[1])
        elif op == "xor.b32":
            regs[d] = bits(a[0]) ^ bits(a[1])
        elif op == "fma.rn.f16x2":
            put(d, half(a[0]) * half(a[1]) + half(a[2]))
        elif op == "mul.rn.f16x2":
            put(d, half(a[0]) * half(a[1]))
        elif op == "max.f16x2":
            put(d, np.maximum(half(a[0]), half(a[1])))
        elif op == "neg.f16x2":
            put(d, -half(a[0]))
        else:
            raise AssertionError(f"the emulator does not know {op}")
    return regs["$0"].view(np.float16).astype(np.float64)


def centred_cubic(v: np.ndarray):
    """The cardinal cubic B-spline centred at 0 and its derivative, in fp64."""
    s = np.abs(v)
    b = np.where(s < 1, 2 / 3 - s ** 2 + s ** 3 / 2, np.where(s < 2, (2 - s) ** 3 / 6, 0.0))
    db = np.sign(v) * np.where(s < 1, -2 * s + 1.5 * s ** 2, np.where(s < 2, -(2 - s) ** 2 / 2, 0.0))
    return b, db


def bf16(x: np.ndarray) -> np.ndarray:
    return torch.from_numpy(x).to(torch.bfloat16).double().numpy()


def test_packed_fp16_strings_give_the_cubic_b_spline_and_its_derivative_within_their_documented_error():
    """The distances v = u - c - 2 that a kernel passes, as fp32 rounded to fp16, over every coefficient's support and
    beyond it (zeros there, also far outside the grid): the errors ``_cubic_packed_at``'s docstring states (measured:
    values 2.81e-3 at most, 3.89e-4 RMS, mean -3.8e-5; derivatives, from the string's twice-over result halved,
    1.89e-3, 4.33e-4 RMS), and A's bf16 elements about as far from the B-spline as the fp32 evaluation rounded to bf16
    (measured: 7.3e-4 RMS against 6.2e-4)."""
    u = np.linspace(-1.5, 12.5, 400000)
    v = np.concatenate([u - c - 2.0 for c in range(8)] + [np.array([-3000.0, -2.5, 2.5, 3000.0])])
    v32 = v.astype(np.float32)
    b, db = run_ptx(tk._CUBIC_F16X2.value, v32), run_ptx(tk._DCUBIC2_F16X2.value, v32) / 2
    ref, dref = centred_cubic(v)
    assert np.abs(b[-4:]).max() == 0 and np.abs(db[-4:]).max() == 0  # outside the support
    inside = np.abs(v) < 2
    for got, want, worst, rms in ((b, ref, 2.8e-3, 3.9e-4), (db, dref, 1.9e-3, 4.3e-4)):
        err = (got - want)[inside]
        assert np.abs(err).max() < 1.25 * worst and np.sqrt(np.mean(err ** 2)) < 1.25 * rms
        assert abs(err.mean()) < 0.25 * rms  # a small bias at most
    stored, fp32_stored = (bf16(b) - ref)[inside], (bf16(ref.astype(np.float32)) - ref)[inside]
    assert np.sqrt(np.mean(stored ** 2)) < 1.5 * np.sqrt(np.mean(fp32_stored ** 2))
    assert np.array_equal(np.sign(db[inside & (np.abs(dref) > 1e-2)]), np.sign(dref[inside & (np.abs(dref) > 1e-2)]))


def clear_geometries():
    for g in (kan_op._bases_geometry, kan_op._dx_bases_geometry, kan_op._dx_rows_geometry):
        g.cache_clear()


def test_row_kernels_take_packed_fp16_for_bf16_uniform_cubic_layers_on_nvidia_gpus_only(monkeypatch):
    clear_geometries()
    if kan_op._INTERPRET:
        assert not kan_op._packed(torch.bfloat16, 3, True)  # no inline PTX on the CPU interpreter
    if not torch.cuda.is_available():
        assert not kan_op._ptx_f16x2()
    monkeypatch.setattr(kan_op, "_ptx_f16x2", lambda: True)  # a GPU that has it
    monkeypatch.setattr(kan_op, "_INTERPRET", False)  # compiled, not interpreted
    try:
        def packed(dtype=torch.bfloat16, k=3, uniform=True):
            binds = [kan_op._bases_geometry(512, 48, 48 * 9, 12, 8, k, uniform, 1, True, dtype),
                     kan_op._dx_bases_geometry(512, 48, 48 * 9, 12, 8, k, uniform, 1, True, dtype),
                     kan_op._dx_rows_geometry(512, 48, 80, 48 * 9, 12, 8, k, uniform, 1, True, dtype, "tf32")]
            flags = {kan_op._BASES.arguments(binds[0])["PACKED"], kan_op._DX_BASES.arguments(binds[1])["PACKED"],
                     kan_op._DX_ROWS.arguments(binds[2])["PACKED"]}
            assert len(flags) == 1  # the three kernels agree
            return flags.pop()

        assert packed()
        assert not packed(torch.float16) and not packed(torch.float32) and not packed(k=2) and not packed(uniform=False)
    finally:
        clear_geometries()  # while the stand-in still answers: nothing bound under it stays cached


@pytest.mark.gpu
def test_packed_row_kernels_on_gpu_stay_close_to_their_fp32_form():
    """ViT-tiny-like shapes in bf16: A one bf16 step at most from the fp32 evaluation's (act columns the same), dX
    from dA and the held-columns input grad within 4e-3 (relative norm) of their fp32 derivatives'."""
    torch.manual_seed(0)
    m, n_in, n_out, cp = 4099, 48, 80, 8
    from vkan import KANLinear
    layer = KANLinear(n_in, n_out).cuda()
    with torch.no_grad():
        layer.spline_weight.normal_()  # O(1) spline weights: the derivatives' errors are not hidden by the base term
    _, wt, _ = kan_op._pack(layer.spline_weight.detach(), layer.spline_scaler.detach(),
                            layer.base_weight.detach(), torch.bfloat16)
    kt, grid = wt.shape[1], layer.grid
    x = torch.randn(m, n_in, device="cuda") * 1.7
    gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    da = gy @ wt

    def run():
        clear_geometries()
        return (kan_op._launch_bases(x, grid, kt, cp, 3, True, 1, True, torch.bfloat16),
                kan_op._launch_dx_bases(da, x, grid, cp, 3, True, 1, True),
                kan_op._launch_dx_rows(gy, x, grid, wt, cp, 3, True, 1, True))

    assert kan_op._packed(torch.bfloat16, 3, True)
    a, dx_bases, dx_rows = run()
    shipped, kan_op._ptx_f16x2 = kan_op._ptx_f16x2, lambda: False
    try:
        a32, dx_bases32, dx_rows32 = run()
    finally:
        kan_op._ptx_f16x2 = shipped
        clear_geometries()  # no launch bound without packed fp16 stays cached
    spline = n_in * cp
    step = 2.0 ** -8  # a bf16 step in [0.5, 1); the bases are at most 2/3
    assert (a[:, :spline].float() - a32[:, :spline].float()).abs().max() <= step
    assert torch.equal(a[:, spline:], a32[:, spline:])
    for got, want in ((a, a32), (dx_bases, dx_bases32), (dx_rows, dx_rows32)):
        assert not torch.equal(got, want)  # the launchers did take the packed form
    for got, want in ((dx_bases, dx_bases32), (dx_rows, dx_rows32)):
        assert ((got - want).norm() / want.norm()).item() < 4e-3
