"""Compiles every fused kernel variant for an H100/H200 (sm_90) without a GPU; run as a script by
test_kernel_compile.py (outside Triton's interpreter, which accepts code that the compiler rejects)."""
import sys

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from vkan.ops import triton_kan as tk

TARGET = GPUTarget("cuda", 90, 32)
PACK_TILES = dict(CP=8, HAS_SCALER=True, HAS_BASE=True, BO=8, BI=16)  # kan_op._PACK_TILE; and HAS_W, both ways
UNPACK_TILES = dict(CP=8, HAS_SCALER=True, HAS_BASE=True, BO=16)
MATMUL_ARGS = {
    "kan_fwd_kernel": dict(x_ptr="*fp32", grid_ptr="*fp32", w_ptr="*W", y_ptr="*W", M="i32", I="i32", O="i32",
                           stride_xm="i32", stride_wk="i32", stride_ym="i32"),
    "kan_dx_kernel": dict(gy_ptr="*W", x_ptr="*fp32", grid_ptr="*fp32", wt_ptr="*W", dx_ptr="*fp32", M="i32", I="i32",
                          O="i32", NSB="i32", stride_gm="i32", stride_xm="i32", stride_wo="i32", stride_dm="i32"),
    "kan_dw_kernel": dict(gy_ptr="*W", x_ptr="*fp32", grid_ptr="*fp32", part_ptr="*fp32", M="i32", I="i32", O="i32",
                          NSB="i32", stride_gm="i32", stride_xm="i32", stride_pk="i32", stride_ps="i32"),
}


def compile_one(name, sig, consts, **options):
    fn = getattr(tk, name)
    sig = dict(sig, **{k: "constexpr" for k in consts})
    sig = {k: sig[k] for k in fn.arg_names}  # in the kernel's parameter order, each one given
    src = ASTSource(fn=fn, signature=sig, constexprs={(fn.arg_names.index(k),): v for k, v in consts.items()})
    triton.compile(src, target=TARGET, options=options)


def main():
    n = 0
    # one full set on a uniform grid in bf16 (the training configuration) and a Cox-de Boor forward in fp32:
    # compiling takes seconds per variant on 2 CPU cores
    for dtype, (k, uniform, act) in [("bf16", (3, True, 1)), ("fp32", (1, False, 3))]:
        cp, stages = 8, (3 if dtype == "bf16" else 2)
        meta = dict(Q=12, CP=cp, K=k, UNIFORM=uniform, ACT=act, PRECISION="tf32" if dtype == "bf16" else "ieee")
        full = dtype == "bf16"
        # (tiles, warps) as kan_op's launchers pick them for 192 -> 768
        variants = {
            "kan_fwd_kernel": [(dict(HAS_BASE=True, BM=128, BN=256, N2=0, BI=8, BIB=64), 8),
                               (dict(HAS_BASE=True, BM=64, BN=128, N2=0, BI=16, BIB=64), 4),  # and 192 -> 80
                               (dict(HAS_BASE=True, BM=64, BN=128, N2=32, BI=8, BIB=64), 4)] if full else  # 384 -> 160
                              [(dict(HAS_BASE=True, BM=64, BN=256, N2=0, BI=8, BIB=64), 4)],
            "kan_dx_kernel": [(dict(HAS_BASE=True, BASE_DOT=bd, BM=128, BO=64, BI=16, BIB=64), 4)
                              for bd in ((False, True) if full else ())],
            # the weight grad also with its narrow layers' tiles (64 and 128 columns, 4 warps; e.g. 192 -> 112), and in
            # two output pieces (192 -> 80: 64 + 16, 384 -> 160: 128 + 32)
            "kan_dw_kernel": [(dict(BM=64, BN=256, N2=0, BI=16, BIB=64, SPLIT=10), 8),
                              *((dict(BM=64, BN=bn, N2=0, BI=16, BIB=64, SPLIT=32), 4) for bn in (64, 128)),
                              *((dict(BM=64, BN=bn, N2=n2, BI=16, BIB=64, SPLIT=16), 4)
                                for bn, n2 in ((64, 16), (128, 32)))] if full else [],
        }
        for name, consts_list in variants.items():
            sig = {a: t.replace("W", dtype) for a, t in MATMUL_ARGS[name].items()}
            for consts, warps in consts_list:
                compile_one(name, sig, dict(meta, **consts), num_warps=warps, num_stages=stages)
                n += 1
        if full:
            for has_w in (True, False):  # the fused path's W and W^T; W^T alone (bench/row_kernels.py)
                compile_one("kan_pack_kernel", dict(sw_ptr="*fp32", sc_ptr="*fp32", bw_ptr="*fp32", w_ptr=f"*{dtype}",
                                                    wt_ptr=f"*{dtype}", I="i32", O="i32", C="i32", KT="i32"),
                            dict(PACK_TILES, HAS_W=has_w), num_warps=4)
                n += 1
    for bi in (2, 8):  # kan_op's tiles: 16 or 64 (input, coefficient) rows
        compile_one("kan_unpack_kernel", dict(part_ptr="*fp32", sw_ptr="*fp32", sc_ptr="*fp32", dsw_ptr="*fp32",
                                              dsc_ptr="*fp32", db_ptr="*fp32", I="i32", O="i32", C="i32", S="i32",
                                              stride_ps="i32"), dict(UNPACK_TILES, BI=bi), num_warps=4)
        n += 1
    # the input grad with W^T's columns held, at kan_op's tiles, on ViT-S/16's and ViT-tiny's fc1 (160 and 80 outputs),
    # its derivatives in packed fp16 (PTX f16x2, which the interpreter cannot run) and in fp32
    for k1, k2, packed in ((128, 32, True), (64, 16, True), (64, 16, False)):
        compile_one("kan_dx_rows_kernel", {a: t.replace("W", "bf16") for a, t in MATMUL_ARGS["kan_dx_kernel"].items()
                                           if a != "NSB"},
                    dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_BASE=True, BM=64, BI=16, K1=k1, K2=k2,
                         PRECISION="tf32", PACKED=packed), num_warps=4, num_stages=3)
        n += 1
    # the GEMM path's own kernels, with kan_op's tiles (bases 64 rows x 256 (input, coefficient) columns; dX 32 rows x
    # 256 or 128 columns), on both grids, and spline-only; the uniform grid's bases in packed fp16 and in fp32, and
    # packed at 16 padded coefficients (a finer grid)
    for uniform, has_base, packed, cp in ((True, True, True, 8), (True, True, False, 8), (False, True, False, 8),
                                          (True, False, True, 8), (True, True, True, 16)):
        meta = dict(Q=12 + cp - 8, CP=cp, K=3, UNIFORM=uniform, ACT=1, HAS_BASE=has_base, PACKED=packed)
        compile_one("kan_bases_kernel", dict(x_ptr="*fp32", grid_ptr="*fp32", a_ptr="*bf16", M="i32", I="i32",
                                             stride_xm="i32", stride_am="i32"), dict(meta, BM=64, BI=256 // cp),
                    num_warps=4, num_stages=1)
        for bi in (256 // cp, 128 // cp):
            compile_one("kan_dx_bases_kernel", dict(da_ptr="*bf16", x_ptr="*fp32", grid_ptr="*fp32", dx_ptr="*fp32",
                                                    M="i32", I="i32", stride_dam="i32", stride_xm="i32",
                                                    stride_dm="i32"), dict(meta, BM=32, BI=bi), num_warps=4,
                        num_stages=1)
        n += 3
    # the co-launch at ViT-tiny/4's fc1 tiles (bf16, packed): the bases kernel with the pack
    compile_one("kan_bases_pack_kernel", dict(x_ptr="*fp32", grid_ptr="*fp32", a_ptr="*bf16", sw_ptr="*fp32",
                                              sc_ptr="*fp32", bw_ptr="*fp32", wt_ptr="*bf16", M="i32", I="i32",
                                              O="i32", C="i32", KT="i32", stride_xm="i32", stride_am="i32", NP="i32"),
                dict(Q=12, CP=8, K=3, UNIFORM=True, ACT=1, HAS_SCALER=True, HAS_BASE=True, PACKED=True, BM=64, BI=32,
                     PO=8, PI=16), num_warps=4, num_stages=1)
    n += 1
    print(f"compiled {n} kernel variants for sm_90")


if __name__ == "__main__":
    sys.exit(main())
