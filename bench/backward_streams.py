"""Times a KAN feed-forward sublayer's backward with the weight-grad work on a second CUDA stream, against all of it
on one stream, each captured as one CUDA graph: fc2 then fc1, on the paths the compiled ViT-tiny/4 took until the
forty-second session (fc1 fused, fc2 on the GEMM path keeping its bases; fc1 now keeps its bases on the GEMM path too),
here on a bf16 X (the compiled model feeds fc1 the fp32 LayerNorm output).

    PYTHONPATH=. python bench/backward_streams.py [M IN HIDDEN] [--blocks N]

Ways: "one stream" (what ships); "per layer" (each layer's weight grad and unpack on the side stream while its input
grad runs, joined at the layer's end); "per sublayer" (fc2's weight grad runs on through fc1's input grad, joined after
fc1); "one join" (``--blocks`` sublayers back to back, the side stream joined once at the end: an upper bound for
deferring the join).

On an H200 the "per sublayer" way took 0.2319 ms against one stream's 0.2488 at ViT-tiny/4's shapes, but the same
overlap in the compiled tiny/4 model under CUDA graphs made its step 0.14-0.19 ms slower, the concurrent kernels
slowing each other; it was not kept (bench/RESULTS.md, forty-first session).
"""
import argparse

import torch

from vkan import KANLinear
from vkan.bench import graph_time_ms
from vkan.ops import kan_op

BF16 = torch.bfloat16


def layer(n_in, n_out, path, x):
    """(the shipped backward's arguments of one layer on ``path`` before the output grad and after the flags, its
    forward output)."""
    lin = KANLinear(n_in, n_out).cuda()
    sw, sc, bw = (p.detach() for p in (lin.spline_weight, lin.spline_scaler, lin.base_weight))
    y, _, wt, cp, a = kan_op._forward(x, lin.grid, sw, sc, bw, 3, True, 1, BF16, path)
    return ((x, lin.grid, wt, cp, sw, sc, bw, 3, True, 1), (path, a)), y


def input_grad(gy, p):
    """dX by the shipped backward (``kan_op._backward`` asked for the input grad only)."""
    return kan_op._backward(gy, *p[0], True, False, *p[1])[0]


def weight_grad(gy, p):
    """(d spline_weight, d spline_scaler, d base_weight) by the shipped backward, asked for the weight grads only."""
    return kan_op._backward(gy, *p[0], False, True, *p[1])[1]


# Each way returns every tensor it makes, (dX, fc2's dX, fc2's and fc1's weight grads), so that none is freed (and
# its memory reused) while the side stream may still read it.
def one_stream(gy, fc1, fc2, side):
    dx2 = input_grad(gy, fc2)
    g2 = weight_grad(gy, fc2)
    dx1 = input_grad(dx2, fc1)
    return (dx1, dx2, *g2, *weight_grad(dx2, fc1))


def per_layer(gy, fc1, fc2, side):
    main = torch.cuda.current_stream()
    outs, grads = [gy], []
    for p in (fc2, fc1):
        side.wait_stream(main)
        with torch.cuda.stream(side):
            grads += weight_grad(outs[-1], p)
        outs.append(input_grad(outs[-1], p))
        main.wait_stream(side)
    return (outs[2], outs[1], *grads)


def per_sublayer(gy, fc1, fc2, side, join=True):
    main = torch.cuda.current_stream()
    side.wait_stream(main)
    with torch.cuda.stream(side):
        g2 = weight_grad(gy, fc2)
    dx2 = input_grad(gy, fc2)
    side.wait_stream(main)
    with torch.cuda.stream(side):
        g1 = weight_grad(dx2, fc1)
    dx1 = input_grad(dx2, fc1)
    if join:
        main.wait_stream(side)
    return (dx1, dx2, *g2, *g1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shape", nargs="*", type=int, default=[33280, 192, 80], help="M IN HIDDEN (default: ViT-tiny/4's)")
    ap.add_argument("--blocks", type=int, default=12, help="sublayers back to back in the chained ways")
    args = ap.parse_args()
    if len(args.shape) != 3:
        ap.error("give the shape as three integers, M IN HIDDEN, or none for ViT-tiny/4's 33280 192 80")
    m, n_in, hidden = args.shape
    x = torch.randn(m, n_in, device="cuda", dtype=BF16)
    fc1, h = layer(n_in, hidden, "fused", x)
    fc2, _ = layer(hidden, n_in, "gemm-keep", h)
    gy = torch.randn(m, n_in, device="cuda", dtype=BF16)
    side = torch.cuda.Stream()
    want = one_stream(gy, fc1, fc2, side)
    ways = {"one stream": one_stream, "per layer": per_layer, "per sublayer": per_sublayer,
            "one join": lambda *a: per_sublayer(*a, join=False)}
    for name, fn in ways.items():
        got = fn(gy, fc1, fc2, side)
        torch.cuda.synchronize()
        assert all(torch.equal(a, b) for a, b in zip(got, want)), name  # dX and every weight grad
    print(f"## {m}x{n_in}->{hidden}->{n_in}: the sublayer's backward as one CUDA graph, ms (3 interleaved rounds)")
    chained = {"one stream x blocks": lambda: [one_stream(gy, fc1, fc2, side) for _ in range(args.blocks)],
               "per sublayer x blocks": lambda: [per_sublayer(gy, fc1, fc2, side) for _ in range(args.blocks)],
               "one join x blocks": lambda: ([per_sublayer(gy, fc1, fc2, side, join=False)
                                              for _ in range(args.blocks)],
                                             torch.cuda.current_stream().wait_stream(side))}
    for r in range(3):
        for name, fn in list(ways.items())[:3]:
            ms, err = graph_time_ms(lambda: fn(gy, fc1, fc2, side))
            print(f"round {r} {name}: {ms:.4f} ms" if err is None else f"round {r} {name}: {err}")
        for name, fn in chained.items():
            ms, err = graph_time_ms(fn)
            print(f"round {r} {name} ({args.blocks}): {ms:.4f} ms" if err is None else f"round {r} {name}: {err}")


if __name__ == "__main__":
    main()
