"""The benchmark script's plumbing: tables, argument checks, and (on a GPU) the interleaved layer rounds."""
import pytest
import torch

from vkan import bench


def test_markdown_rounds_floats_and_leaves_missing_cells_empty():
    table = bench.markdown([{"impl": "fused", "ms": 0.43412}, {"impl": "ref"}], ["impl", "ms"])
    assert table.splitlines() == ["| impl | ms |", "|---|---|", "| fused | 0.434 |", "| ref |  |"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_main_without_a_gpu_says_so():
    with pytest.raises(SystemExit, match="needs a CUDA GPU"):
        bench.main(["--skip-models"])


@pytest.mark.gpu
def test_layer_rounds_give_per_round_ratios_relative_to_the_fused_layer():
    rows = bench.bench_layers([(512, 32, 64)], rounds=2)
    by_impl = {r["impl"]: r for r in rows}
    assert {"vkan fused", "vkan reference", "nn.Linear (same params)"} <= set(by_impl)
    fused, ref = by_impl["vkan fused"], by_impl["vkan reference"]
    assert fused["fused_speedup"] == 1.0 and ref["speedup_vs_reference"] == 1.0
    assert all(len(r["ms_rounds"]) == 2 and r["ms"] > 0 for r in rows)
    # the reference row's "fused speed-up" and the fused row's "speed-up vs reference" are the same ratios
    assert ref["fused_speedup"] == pytest.approx(fused["speedup_vs_reference"])
    assert 0 < fused["rel_err_vs_reference"] < 2e-2
