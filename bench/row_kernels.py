"""The GEMM path's own kernels as CUDA graphs (kernels only): the two row kernels (bases A, and dX from dA, at both
of dX's tiles) against the bandwidth a plain fill and copy of A's bytes reach on the same GPU, and the input grad
(dA = dY W^T, then dX) whole or over row chunks of dA; with ``--pack``, the pack kernel with and without W, its tiles,
and the forward product on W or W^T; with ``--products``, the GEMM path's three cuBLAS products against an MLP's, and
the weight grad's product split over row blocks (batched, fp32 partials that the unpack sums). Variants' outputs are
compared with the shipped kernels'.

    PYTHONPATH=. python bench/row_kernels.py [--shapes 25216x384x160,...] [--pack | --products]

(Row-walking variants of the two row kernels, slower at every shape, were measured with this script at 2939180 and
edc15be: bench/RESULTS.md, twenty-ninth session.)
"""
import argparse
from types import SimpleNamespace

import torch
import triton

from vkan.bench import graph_calls_ms
from vkan.ops import kan_op


def layer(m, n_in, n_out):
    """One layer's tensors (bf16 A and dA, fp32 X on KANLinear's default uniform grid) and the shipped kernel's dX as
    the reference."""
    t = SimpleNamespace(m=m, n_in=n_in, cp=8, kt=n_in * 9)
    t.grid = torch.linspace(-2.2, 2.2, 12, device="cuda").repeat(n_in, 1)  # 5 intervals + 2 x 3 knots a row
    t.x = torch.randn(m, n_in, device="cuda")
    t.gy = torch.randn(m, n_out, device="cuda", dtype=torch.bfloat16)
    t.wt = (0.05 * torch.randn(n_out, t.kt, device="cuda")).to(torch.bfloat16)
    t.da = t.gy @ t.wt
    t.dx_ref = kan_op._launch_dx_bases(t.da, t.x, t.grid, t.cp, 3, True, 1, True)
    t.a, t.dx = torch.empty_like(t.da), torch.empty_like(t.dx_ref)
    t.gb_a = (t.a.numel() * 2 + t.x.numel() * 4) / 1e9  # A written (or dA read) and X read
    t.gb_dx = t.gb_a + t.x.numel() * 4 / 1e9  # ... and dX written
    return t


def rooflines_and_shipped(t, out):
    """A fill and a copy of A's bytes, the shipped bases kernel, and the shipped dX kernel at both of its tiles."""
    fill = graph_calls_ms(lambda: t.a.fill_(1.0))
    copy_src = torch.empty_like(t.a)
    copy = graph_calls_ms(lambda: t.a.copy_(copy_src))
    out(f"roofline: fill A {fill:.4f} ms {t.a.numel() * 2 / 1e9 / fill:.2f} TB/s; copy A {copy:.4f} ms "
        f"{t.a.numel() * 4 / 1e9 / copy:.2f} TB/s")
    ms = graph_calls_ms(lambda: kan_op._launch_bases(t.x, t.grid, t.kt, t.cp, 3, True, 1, True, torch.bfloat16))
    out(f"bases shipped: {ms:.4f} ms {t.gb_a / ms:.2f} TB/s")
    ms = graph_calls_ms(lambda: kan_op._launch_dx_bases(t.da, t.x, t.grid, t.cp, 3, True, 1, True))
    out(f"dX shipped: {ms:.4f} ms {t.gb_dx / ms:.2f} TB/s")
    shipped = kan_op._dx_bases_geometry(t.m, t.n_in, t.kt, 12, t.cp, 3, True, 1, True, t.da.dtype)
    for bm, cols in [(32, 128), (32, 256)]:
        launch = kan_op._DX_BASES.rebind(shipped, grid=(triton.cdiv(t.m, bm), triton.cdiv(t.n_in, cols // t.cp)),
                                         BM=bm, BI=cols // t.cp)
        run = lambda: kan_op._DX_BASES(launch, da_ptr=t.da, x_ptr=t.x, grid_ptr=t.grid, dx_ptr=t.dx)
        run()
        equal = torch.equal(t.dx, t.dx_ref)
        ms = graph_calls_ms(run)
        out(f"dX {bm} {cols} 4: {ms:.4f} ms {t.gb_dx / ms:.2f} TB/s equal={equal}")


def chunked_input_grad(t, out):
    """The GEMM path's input grad, dA = dY W^T then dX, whole or over row chunks whose dA (one reused buffer) may stay
    in L2 between the product writing it and the row kernel reading it."""
    ms = graph_calls_ms(lambda: kan_op._launch_dx_bases(t.gy @ t.wt, t.x, t.grid, t.cp, 3, True, 1, True))
    out(f"dY W^T + dX, whole: {ms:.4f} ms")
    for rows in (2048, 4096, 8192):
        buf = torch.empty(rows, t.kt, device="cuda", dtype=torch.bfloat16)
        launches = {n: kan_op._dx_bases_geometry(n, t.n_in, t.kt, 12, t.cp, 3, True, 1, True, buf.dtype)
                    for n in {rows, t.m % rows or rows}}

        def chunked():
            for r0 in range(0, t.m, rows):
                n = min(rows, t.m - r0)
                torch.mm(t.gy[r0:r0 + n], t.wt, out=buf[:n])
                kan_op._DX_BASES(launches[n], da_ptr=buf[:n], x_ptr=t.x[r0:r0 + n], grid_ptr=t.grid,
                                 dx_ptr=t.dx[r0:r0 + n])
        chunked()
        diff = (t.dx - t.dx_ref).abs().max().item()
        ms = graph_calls_ms(chunked)
        out(f"dY W^T + dX, {rows}-row chunks ({rows * t.kt * 2 / 1e6:.0f} MB of dA): {ms:.4f} ms maxdiff={diff:.1e}")


def shape(m, n_in, n_out, out):
    t = layer(m, n_in, n_out)
    out(f"## {m}x{n_in}->{n_out}: A {t.a.numel() * 2 / 1e6:.0f} MB; ms, TB/s (A or dA and X, dX written)")
    rooflines_and_shipped(t, out)
    chunked_input_grad(t, out)


def pack_and_product(m, n_in, n_out, out):
    """The pack kernel writing W and W^T (the fused path) or W^T alone (the GEMM path), and the GEMM path's forward
    product A W against A (W^T)^T; then the pack's tiles, each checked against the shipped launch's output."""
    sw, sc, bw = (torch.randn(n_out, n_in, 8, device="cuda"), torch.randn(n_out, n_in, device="cuda"),
                  torch.randn(n_out, n_in, device="cuda"))
    both = graph_calls_ms(lambda: kan_op._pack(sw, sc, bw, torch.bfloat16))
    alone = graph_calls_ms(lambda: kan_op._pack(sw, sc, bw, torch.bfloat16, with_w=False))
    w, wt, cp = kan_op._pack(sw, sc, bw, torch.bfloat16)
    a = torch.randn(m, wt.shape[1], device="cuda", dtype=torch.bfloat16)
    diff = (torch.mm(a, w).float() - torch.mm(a, wt.t()).float()).abs().max().item()
    on_w, on_wt = graph_calls_ms(lambda: torch.mm(a, w)), graph_calls_ms(lambda: torch.mm(a, wt.t()))
    out(f"## {m}x{n_in}->{n_out}: pack W and W^T {both:.4f} ms, W^T alone {alone:.4f} ms; A W {on_w:.4f} ms, "
        f"A (W^T)^T {on_wt:.4f} ms (maxdiff {diff:.1e})")
    for with_w in (True, False):  # the pack's tiles: outputs x (input, coefficient) rows per program, warps
        shipped = kan_op._pack_geometry(n_out, n_in, 8, True, True, with_w)[2]
        tiles = kan_op._PACK.arguments(shipped)
        line = [f"pack tiles, {'W and W^T' if with_w else 'W^T alone'} (shipped {tiles['BO']} {tiles['BI'] * cp}):"]
        for bo, rows, warps in [(bo, rows, warps) for bo in (8, 16, 32) for rows in (32, 64, 128, 256)
                                for warps in (1, 4) if bo * rows <= 8192]:
            launch = kan_op._PACK.rebind(shipped, grid=(triton.cdiv(n_out, bo), triton.cdiv(n_in, rows // cp)),
                                         num_warps=warps, BO=bo, BI=rows // cp)
            w2, wt2 = torch.zeros_like(w), torch.zeros_like(wt)
            run = lambda: kan_op._PACK(launch, sw_ptr=sw, sc_ptr=sc, bw_ptr=bw, w_ptr=w2 if with_w else wt2,
                                       wt_ptr=wt2)
            run()
            assert torch.equal(wt2, wt) and (not with_w or torch.equal(w2, w))
            line.append(f"{bo} {rows} {warps}: {graph_calls_ms(run):.4f}")
        out(" | ".join(line))


def products(m, n_in, n_out, out, tuned=False):
    """The GEMM path's three products as CUDA graphs, with TFLOP/s, beside the products of an MLP layer of the same
    rows (``n_in`` -> 4 ``n_in``), and dA's variants (transposed, depth padded; ``tuned``: Inductor's pick after
    autotuning its Triton templates against cuBLAS); then the weight grad over row blocks (``weight_grad_blocks``)."""
    t = layer(m, n_in, n_out)
    a = torch.randn_like(t.da)
    flop = 2 * m * t.kt * n_out / 1e12
    rows = [("forward A (W^T)^T", lambda: torch.mm(a, t.wt.t())), ("dA = dY W^T", lambda: torch.mm(t.gy, t.wt)),
            ("dW = A^T dY (fp32)", lambda: kan_op._mm_fp32(a.t(), t.gy)),
            ("dW^T = dY^T A (fp32)", lambda: kan_op._mm_fp32(t.gy.t(), a)),
            ("dA^T = W (dY)^T", lambda: torch.mm(t.wt.t(), t.gy.t()))]
    pad = -n_out % 64  # dA's depth (the outputs) padded with zero rows and columns to whole 64-deep steps
    if pad:
        gy_p, wt_p = torch.nn.functional.pad(t.gy, (0, pad)), torch.nn.functional.pad(t.wt, (0, 0, 0, pad))
        assert torch.allclose(torch.mm(gy_p, wt_p).float(), torch.mm(t.gy, t.wt).float(), rtol=1e-2, atol=1e-2)
        rows.append((f"dA, depth padded to {n_out + pad}", lambda: torch.mm(gy_p, wt_p)))
    if tuned:  # Inductor's pick after autotuning its Triton templates against cuBLAS (its log gives each time)
        tuned_mm = torch.compile(lambda g, w: torch.mm(g, w), mode="max-autotune-no-cudagraphs", dynamic=False)
        tuned_mm(t.gy, t.wt)
        rows.append(("dA, Inductor max-autotune's pick", lambda: tuned_mm(t.gy, t.wt)))
    h, x16 = 4 * n_in, t.x.to(torch.bfloat16)
    w1, gh = torch.randn(h, n_in, device="cuda", dtype=torch.bfloat16), torch.randn(m, h, device="cuda",
                                                                                    dtype=torch.bfloat16)
    mlp = [("MLP forward X W1^T", lambda: torch.mm(x16, w1.t())), ("MLP dX = dH W1", lambda: torch.mm(gh, w1)),
           ("MLP dW1 = dH^T X", lambda: torch.mm(gh.t(), x16))]
    out(f"## {m}x{n_in}->{n_out} (KT {t.kt}): {flop * 1e3:.1f} GFLOP a product; MLP {n_in}->{h}: "
        f"{2 * m * n_in * h / 1e9:.1f}")
    for name, fn in rows:
        ms = graph_calls_ms(fn)
        out(f"{name}: {ms:.4f} ms {flop / ms * 1e3:.0f} TFLOP/s")
    for name, fn in mlp:
        ms = graph_calls_ms(fn)
        out(f"{name}: {ms:.4f} ms {2 * m * n_in * h / 1e12 / ms * 1e3:.0f} TFLOP/s")
    weight_grad_blocks(t, a, out)


def weight_grad_blocks(t, a, out):
    """The weight grad with the unpack as CUDA graphs: one product, as shipped (``kan_op._dw_row_blocks``), and the
    rows split into S blocks, one batched product writing S fp32 partials; each against one product's gradients."""
    m, n_out = t.gy.shape
    sw, sc, bw = (torch.randn(n_out, t.n_in, 8, device=a.device), torch.randn(n_out, t.n_in, device=a.device),
                  torch.randn(n_out, t.n_in, device=a.device))
    unpacked = lambda blocks: kan_op._unpack(kan_op._dw_product(a, t.gy, blocks), sw, sc, bw, t.cp)
    ref = unpacked(1)
    out(f"dW one product + unpack: {graph_calls_ms(lambda: unpacked(1)):.4f} ms")
    out(f"dW as shipped ({kan_op._dw_row_blocks(m, t.kt, n_out)} row blocks) + unpack: "
        f"{graph_calls_ms(lambda: unpacked(None)):.4f} ms")
    for s in (2, 4, 8, 16, 32):
        if m % s:
            continue
        diff = max((u - r).abs().max().item() / r.abs().max().item() for u, r in zip(unpacked(s), ref))
        out(f"dW over {s} row blocks (bmm) + unpack: {graph_calls_ms(lambda: unpacked(s)):.4f} ms "
            f"(max rel diff {diff:.1e})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="25216x384x160,25216x160x384,33280x192x80,33280x80x192,12608x768x304,"
                                            "12608x304x768", help="M x inputs x outputs, comma-separated")
    parser.add_argument("--pack", action="store_true", help="only the pack kernel and the forward product")
    parser.add_argument("--products", action="store_true", help="only the cuBLAS products and the split weight grad")
    parser.add_argument("--tuned", action="store_true", help="with --products: also Inductor's autotuned dA product")
    args = parser.parse_args()
    for s in args.shapes.split(","):
        if args.products:
            products(*map(int, s.split("x")), lambda line: print(line, flush=True), args.tuned)
        elif args.pack:
            pack_and_product(*map(int, s.split("x")), lambda line: print(line, flush=True))
        else:
            shape(*map(int, s.split("x")), lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
