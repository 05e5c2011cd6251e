"""The packed-fp16 derivative of dxh_kernel.py's MODE 3 (the same operations and fp16 constants, each fp16 operation
rounded once, as the PTX f16x2 instructions round) emulated in numpy against the exact derivative of the centred
cubic B-spline, and a dX-like sum over 8 coefficients with random weights. Usage: python f16x2_emulation.py"""
import numpy as np

h = np.float16
k1, k2, K3, K4 = 0.5503212081491044, 0.8735804647362989, 2.6207413942088964, 1.6509636244473134


def exact(v):
    s = np.abs(v)
    return np.sign(v) * (2 * np.maximum(1 - s, 0) ** 2 - 0.5 * np.maximum(2 - s, 0) ** 2)


def fma16(a, b, c):  # one rounding, as fma.rn.f16x2
    return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(h)


def packed(v):
    v = v.astype(np.float32).astype(h)  # cvt.rn.f16x2.f32
    s = np.abs(v)
    a = np.maximum(fma16(s, h(-k1), h(2 * k1)), h(0))
    c = np.maximum(fma16(s, h(-k2), h(k2)), h(0))
    a, c = (a * a).astype(h), (c * c).astype(h)
    d = fma16(c, h(K3), (a * h(-K4)).astype(h))
    return np.where(np.signbit(v), -d, d).astype(np.float32)


rng = np.random.default_rng(0)
u = rng.uniform(-1, 12, 200000)  # (x - t0) / h over the extended grid; coefficient c's distance v = u - c - 2
v = (u[:, None] - (np.arange(8) + 2.0)[None, :]).ravel()
ex = exact(v)
print(f"max |derivative| {np.abs(ex).max():.3f}; packed fp16 max abs error {np.abs(packed(v) - ex).max():.2e}")
g = rng.standard_normal((200000, 8))
dx, dx16 = (g * ex.reshape(-1, 8)).sum(1), (g * packed(v).reshape(-1, 8)).sum(1)
print(f"dX-like sums: max |difference| / max |dX| {np.abs(dx16 - dx).max() / np.abs(dx).max():.2e}, "
      f"relative norm {np.linalg.norm(dx16 - dx) / np.linalg.norm(dx):.2e}")
