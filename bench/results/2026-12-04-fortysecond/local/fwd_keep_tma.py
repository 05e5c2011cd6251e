"""Experiment kernel for the device (prepared, not yet run): ``kan_fwd_kernel``'s one-tile form (80 outputs on a
128-column tile, base branch) that also writes A = [B(X), act(X)] (bf16) for the weight grad, three ways (MODE): 0 no
A (the shipped forward); 1 plain stores from registers (f53508a's KEEP, 0.110 ms against 0.065 at fc1, forty-second
session); 2 through tensor descriptors (TMA stores: the tile goes through shared memory and the copy engine writes it
while the program goes on). Needs ``triton.set_allocator`` for the descriptors."""
import triton
import triton.language as tl
from vkan.ops.triton_kan import _tile, _bases, _act


@triton.jit
def fwd_keep_kernel(x_ptr, grid_ptr, w_ptr, y_ptr, a_ptr, M, I, O, KT, stride_xm, stride_wk, stride_ym,
                    Q: tl.constexpr, CP: tl.constexpr, ACT: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
                    BI: tl.constexpr, BIB: tl.constexpr, MODE: tl.constexpr):
    pid_m = tl.program_id(0)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    offs_k = tl.arange(0, BI * CP)
    mask_m = offs_m[:, None] < M
    a_row = a_ptr + offs_m.to(tl.int64)[:, None] * KT
    if MODE == 2:
        ad = tl.make_tensor_descriptor(a_ptr, shape=[M, KT], strides=[KT, 1], block_shape=[BM, BI * CP])
        adb = tl.make_tensor_descriptor(a_ptr, shape=[M, KT], strides=[KT, 1], block_shape=[BM, BIB])
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for i0 in range(0, I, BI):
        offs_i = i0 + tl.arange(0, BI)
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        b, _ = _bases(x, grid_ptr, offs_i, I, Q, CP, 3, True)
        a = tl.reshape(b, (BM, BI * CP)).to(w_ptr.dtype.element_ty)
        rows = i0 * CP + offs_k
        if MODE == 1:
            tl.store(a_row + rows[None, :], a, mask=mask_m & (rows[None, :] < I * CP))
        if MODE == 2:
            ad.store([pid_m * BM, i0 * CP], a)  # the descriptor clips rows past M; I is a multiple of BI here
        acc = tl.dot(a, _tile(w_ptr, rows, offs_n, stride_wk, I * CP, O), acc)
    wb_ptr = w_ptr + I * CP * stride_wk
    for i0 in range(0, I, BIB):
        offs_i = i0 + tl.arange(0, BIB)
        x = _tile(x_ptr, offs_m, offs_i, stride_xm, M, I).to(tl.float32)
        a = _act(x, ACT).to(w_ptr.dtype.element_ty)
        if MODE == 1:
            tl.store(a_row + I * CP + offs_i[None, :], a, mask=mask_m & (offs_i[None, :] < I))
        if MODE == 2:
            adb.store([pid_m * BM, I * CP + i0], a)
        acc = tl.dot(a, _tile(wb_ptr, offs_i, offs_n, stride_wk, I, O), acc)
    tl.store(y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :], acc.to(y_ptr.dtype.element_ty),
             mask=mask_m & (offs_n[None, :] < O))
