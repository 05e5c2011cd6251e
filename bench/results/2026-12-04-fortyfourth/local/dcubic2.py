"""Offline (forty-fourth session): a shorter PTX f16x2 string for the uniform cubic bases' derivatives, emulated on the
CPU by tests/test_packed_bases.py's emulator against the B-spline in fp64, beside the string shipped until then.

With s = |v|, the derivative is sign(v) (2 (1 - s)_+^2 - 0.5 (2 - s)_+^2) = sign(v) ((2 - 2s)_+^2 - (2 - s)_+^2) / 2.
The string returns twice the derivative from exact constants (-1, -2, 2): two FMAs and two maxima for the truncated
terms, one product and one FMA for their difference (the negation folds into the FMA's operand on the GPU), and the
sign: 6 f16x2 arithmetic instructions a pair against 8 (8 SASS instructions against 10 in the compiled kernels,
probes.txt); a kernel folds the 1/2 into its 1/h after the sum. Both strings are kept here, each on one line (inductor
copies a kernel's globals into its generated code), so that dx_rows_exp.py's modes keep their meaning once
dx_rows_mode4.patch replaces the shipped one. Run: PYTHONPATH=.:tests python <this> (output: dcubic2.txt)"""

# triton_kan._DCUBIC_F16X2 as the forty-third session shipped it: sign(v) (2.6207 c^2 - 1.6510 a^2)
DCUBIC_F16X2 = "{ .reg .b32 s, a, c, k0, k1, k2, k3, k4, k5, z, sg; mov.b32 k0, 0xB867B867; mov.b32 k1, 0x3C673C67; mov.b32 k2, 0xBAFDBAFD; mov.b32 k3, 0x3AFD3AFD; mov.b32 k4, 0xBE9BBE9B; mov.b32 k5, 0x413E413E; mov.b32 z, 0; and.b32 s, $1, 0x7FFF7FFF; and.b32 sg, $1, 0x80008000; fma.rn.f16x2 a, s, k0, k1; max.f16x2 a, a, z; fma.rn.f16x2 c, s, k2, k3; max.f16x2 c, c, z; mul.rn.f16x2 a, a, a; mul.rn.f16x2 c, c, c; mul.rn.f16x2 a, a, k4; fma.rn.f16x2 a, c, k5, a; xor.b32 $0, a, sg; }"  # noqa: E501
DCUBIC2_F16X2 = ("{ .reg .b32 s, p, q, z, sg, k1, k2, k3; mov.b32 z, 0; mov.b32 k1, 0xBC00BC00; "
                 "mov.b32 k2, 0x40004000; mov.b32 k3, 0xC000C000; and.b32 s, $1, 0x7FFF7FFF; "
                 "and.b32 sg, $1, 0x80008000; fma.rn.f16x2 q, s, k1, k2; max.f16x2 q, q, z; "
                 "fma.rn.f16x2 p, s, k3, k2; max.f16x2 p, p, z; mul.rn.f16x2 q, q, q; neg.f16x2 q, q; "
                 "fma.rn.f16x2 p, p, p, q; xor.b32 $0, p, sg; }")

if __name__ == "__main__":
    import numpy as np

    from test_packed_bases import centred_cubic, run_ptx
    u = np.linspace(-1.5, 12.5, 400000)
    v = np.concatenate([u - c - 2.0 for c in range(8)] + [np.array([-3000.0, -2.5, 2.5, 3000.0])])
    v32 = v.astype(np.float32)
    _, dref = centred_cubic(v)
    inside = np.abs(v) < 2
    g = np.random.default_rng(0).standard_normal((8, u.size))  # the same weights for both strings
    for label, got in (("DCUBIC_F16X2 (shipped until now)", run_ptx(DCUBIC_F16X2, v32)),
                       ("DCUBIC2_F16X2 / 2", run_ptx(DCUBIC2_F16X2, v32) / 2)):
        err = (got - dref)[inside]
        # a sum over 8 coefficients with random weights, as dX sums them: relative norm of the error
        d8, r8 = got[:8 * u.size].reshape(8, -1), dref[:8 * u.size].reshape(8, -1)
        rel = np.linalg.norm((g * (d8 - r8)).sum(0)) / np.linalg.norm((g * r8).sum(0))
        print(f"{label}: outside the support {np.abs(got[-4:]).max():.1e}; inside largest error "
              f"{np.abs(err).max():.2e}, RMS {np.sqrt(np.mean(err ** 2)):.2e}, mean {err.mean():.1e}; a weighted sum "
              f"over 8 coefficients off by "
              f"{rel:.2e} (relative norm)")
