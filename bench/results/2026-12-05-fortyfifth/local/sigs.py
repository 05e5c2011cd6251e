"""Argument types of the kernels that probe_colaunch.py and refactor_sass.py compile for sm_90 offline (bf16 layers,
fp32 X and parameters), and the constexprs of ViT-tiny's GEMM-path row kernels (uniform cubic grid, packed bases).
Plain data: refactor_sass.py imports it beside a patched tree."""
GRADS = dict(part_ptr="*fp32", sw_ptr="*fp32", sc_ptr="*fp32", dsw_ptr="*fp32", dsc_ptr="*fp32", db_ptr="*fp32")
ROW = dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, PACKED=True)


def ints(*names):
    return {n: "i32" for n in names}


PACK_SIG = dict(sw_ptr="*fp32", sc_ptr="*fp32", bw_ptr="*fp32", w_ptr="*bf16", wt_ptr="*bf16",
                **ints("I", "O", "C", "KT"))
UNPACK_SIG = dict(GRADS, **ints("I", "O", "C", "S", "stride_ps"))
BASES_SIG = dict(x_ptr="*fp32", grid_ptr="*fp32", a_ptr="*bf16", **ints("M", "I", "stride_xm", "stride_am"))
DX_BASES_SIG = dict(da_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", dx_ptr="*fp32",
                    **ints("M", "I", "stride_dam", "stride_xm", "stride_dm"))
DX_ROWS_SIG = dict(gy_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", wt_ptr="*bf16", dx_ptr="*fp32",
                   **ints("M", "I", "O", "stride_gm", "stride_xm", "stride_wo", "stride_dm"))
# the co-launching kernels: the large kernel's arguments, then the small one's
BASES_PACK_SIG = dict(BASES_SIG, sw_ptr="*fp32", sc_ptr="*fp32", bw_ptr="*fp32", wt_ptr="*bf16",
                      **ints("O", "C", "KT", "NP"))
DX_BASES_UNPACK_SIG = dict(DX_BASES_SIG, **GRADS, **ints("O", "C", "S", "stride_ps", "NU"))
DX_ROWS_UNPACK_SIG = dict(DX_ROWS_SIG, **GRADS, **ints("C", "S", "stride_ps", "NU", "NUR"))


def ordered(fn, sig):
    """``sig`` in ``fn``'s parameter order (sm90_probe indexes its divisibility hints by position)."""
    return {k: sig[k] for k in fn.arg_names if k in sig}
