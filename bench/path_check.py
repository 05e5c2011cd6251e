"""The GEMM kernel path (and its gemm-keep and auto-keep variants) against the fused one on a GPU: one KANLinear's
output and gradients (bf16 autocast), in eager mode and under torch.compile (default and reduce-overhead), on three
shapes. Prints each run's relative
difference from eager fused, per tensor (output, input grad, then each parameter's grad).

    PYTHONPATH=. python bench/path_check.py
"""
import torch

from vkan import KANLinear


def main():
    torch.manual_seed(0)
    for m, n_in, n_out in [(4100, 160, 384), (999, 77, 154), (2048, 304, 768)]:
        layer = KANLinear(n_in, n_out).cuda()
        x = torch.randn(m, n_in, device="cuda")
        gy = torch.randn(m, n_out, device="cuda")
        results = {}
        for mode in ("eager", "default", "reduce-overhead"):
            for path in ("fused", "gemm", "gemm-keep", "auto-keep"):  # auto-keep: gemm-keep compiled (>= 128
                # outputs at all three shapes), fused in eager mode
                layer.kernel_path = path
                run = layer if mode == "eager" else torch.compile(layer, mode=mode)
                for _ in range(3):  # the last of three calls: compiled graphs warm, CUDA graphs recorded
                    xi = x.clone().requires_grad_()
                    layer.zero_grad()
                    with torch.autocast("cuda", dtype=torch.bfloat16):
                        y = run(xi)
                    y.backward(gy.to(y.dtype))
                results[mode, path] = [y.detach().float().clone(), xi.grad.clone(),
                                       *(p.grad.clone() for p in layer.parameters())]
                torch._dynamo.reset()
        base = results["eager", "fused"]
        for (mode, path), tensors in results.items():
            diffs = " ".join(f"{((a - b).norm() / b.norm()).item():.1e}" for a, b in zip(tensors, base))
            print(f"{m}x{n_in}->{n_out} {mode} {path}: {diffs}")


if __name__ == "__main__":
    main()
