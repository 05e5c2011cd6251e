"""Offline (forty-fourth session): a shorter PTX f16x2 string for the uniform cubic bases' derivatives, emulated on the
CPU by tests/test_packed_bases.py's emulator against the B-spline in fp64, beside the shipped string.

With s = |v|, the derivative is sign(v) (2 (1 - s)_+^2 - 0.5 (2 - s)_+^2) = sign(v) ((2 - 2s)_+^2 - (2 - s)_+^2) / 2.
The string returns twice the derivative from exact constants (-1, -2, 2): two FMAs and two maxima for the truncated
terms, one product and one FMA for their difference (the negation folds into the FMA's operand on the GPU), and the
sign: 8 f16x2 instructions a pair against the shipped 10 (a kernel folds the 1/2 into its 1/h after the sum).
Run: PYTHONPATH=.:tests python <this>"""
import numpy as np

from test_packed_bases import centred_cubic, run_ptx
from vkan.ops import triton_kan as tk

DCUBIC2_F16X2 = ("{ .reg .b32 s, p, q, z, sg, k1, k2, k3; mov.b32 z, 0; mov.b32 k1, 0xBC00BC00; "
                 "mov.b32 k2, 0x40004000; mov.b32 k3, 0xC000C000; and.b32 s, $1, 0x7FFF7FFF; "
                 "and.b32 sg, $1, 0x80008000; fma.rn.f16x2 q, s, k1, k2; max.f16x2 q, q, z; "
                 "fma.rn.f16x2 p, s, k3, k2; max.f16x2 p, p, z; mul.rn.f16x2 q, q, q; neg.f16x2 q, q; "
                 "fma.rn.f16x2 p, p, p, q; xor.b32 $0, p, sg; }")

if __name__ == "__main__":
    u = np.linspace(-1.5, 12.5, 400000)
    v = np.concatenate([u - c - 2.0 for c in range(8)] + [np.array([-3000.0, -2.5, 2.5, 3000.0])])
    v32 = v.astype(np.float32)
    _, dref = centred_cubic(v)
    inside = np.abs(v) < 2
    rng = np.random.default_rng(0)
    for label, got in (("shipped _DCUBIC_F16X2", run_ptx(tk._DCUBIC_F16X2.value, v32)),
                       ("DCUBIC2_F16X2 / 2", run_ptx(DCUBIC2_F16X2, v32) / 2)):
        err = (got - dref)[inside]
        # a sum over 8 coefficients with random weights, as dX sums them: relative norm of the error
        g = rng.standard_normal((8, u.size))
        d8, r8 = got[:8 * u.size].reshape(8, -1), dref[:8 * u.size].reshape(8, -1)
        rel = np.linalg.norm((g * (d8 - r8)).sum(0)) / np.linalg.norm((g * r8).sum(0))
        print(f"{label}: outside the support {np.abs(got[-4:]).max():.1e}; inside largest error {np.abs(err).max():.2e}, "
              f"RMS {np.sqrt(np.mean(err ** 2)):.2e}, mean {err.mean():.1e}; a weighted sum over 8 coefficients off by "
              f"{rel:.2e} (relative norm)")
