"""torchrun with 2 CPU processes (gloo): ranks stay in sync and match one process with the same global batch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vkan.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
# No randomness that depends on the rank (no augmentation, no stochastic depth). SGD, not Adam: parameters move
# with the gradient's scale (Adam would hide a wrong gradient average) and rounding differences stay small.
COMMON = ["data=mnist", "data.subset=400", "data.augment.crop_padding=0", "model.kwargs.depth=1", "model.kwargs.drop_path_rate=0",
          "+model.kwargs.patch_size=7", "trainer.epochs=2", "trainer.device=cpu", "trainer.progress_bar=false",
          "logger=none", "trainer.kan_reg_weight=1e-4", "optimizer=sgd", "optimizer.lr=0.05"]


def run(cmd, data_dir, run_dir):
    env = {**os.environ, "VKAN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd + [f"hydra.run.dir={run_dir}"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
def test_two_process_ddp_stays_in_sync_and_equals_single_process_global_batch(tmp_path, data_dir):
    ddp = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py",
               *COMMON, "trainer.batch_size=20"], data_dir, tmp_path / "ddp")
    single = run([sys.executable, "train.py", *COMMON, "trainer.batch_size=40"], data_dir, tmp_path / "single")
    assert ddp["world_size"] == 2 and ddp["ranks_in_sync"] is True
    assert ddp["best_val_acc"] == pytest.approx(single["best_val_acc"], abs=1e-9)
    a = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.pt")
    for name, tensor in b["model"].items():
        torch.testing.assert_close(a["model"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    assert a["metrics"]["train_loss"] == pytest.approx(b["metrics"]["train_loss"], rel=1e-5)


@pytest.mark.slow
def test_two_nodes_of_one_process_each_train_one_run_in_sync(tmp_path, data_dir):
    """Two torchrun launchers on localhost, as two machines would start them (--nnodes 2, one rendezvous)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VKAN_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
                               "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=vkan-test",
                               "train.py", *COMMON, "trainer.batch_size=20", f"hydra.run.dir={tmp_path / f'node{n}'}"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n in range(2)]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-2000:] for o in outputs)
    runs = [tmp_path / f"node{n}" for n in range(2) if (tmp_path / f"node{n}" / "summary.json").exists()]
    assert len(runs) == 1  # one run: rank 0 writes, the other node's Hydra folder is dropped
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_in_sync"] is True and summary["status"] == "finished"


ORDER_SCRIPT = """
import sys, time
from pathlib import Path
from vkan import distributed as dist
ctx = dist.setup()
out = Path(sys.argv[1])
with dist.local_main_first(ctx):
    if ctx.local_rank == 0:
        time.sleep(1.0)  # a slow download or decode
        (out / "cache").write_text("decoded")
    else:
        (out / f"rank{ctx.rank}_saw").write_text(str((out / "cache").exists()))
dist.barrier()
dist.cleanup(ctx)
"""


def two_gloo_ranks(script: str, *args: str) -> None:
    """Run ``python -c script args`` as ranks 0 and 1 of a two-process gloo group on this machine."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "VKAN_DIST_BACKEND": "gloo"}
        procs.append(subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outputs)


def test_local_rank_zero_prepares_the_data_before_the_other_ranks_read_it(tmp_path):
    """Under torchrun the other ranks enter the data block only after local rank 0 has left it (its download or
    decoded-photo cache is there for them): two CPU processes, gloo."""
    two_gloo_ranks(ORDER_SCRIPT, str(tmp_path))
    assert (tmp_path / "rank1_saw").read_text() == "True"


COMPARE_SCRIPT = """
import json, sys
import torch
from vkan import distributed as dist
from vkan.engine import compare_forwards
ctx = dist.setup()
torch.manual_seed(0)
reference = torch.nn.Linear(4, 3)
x = torch.randn(30, 4)
y = reference(x).argmax(-1)
noise = torch.randn(10, 3)
if ctx.rank == 0:  # two batches, both exact
    loader, model = [(x[:10], y[:10]), (x[10:20], y[10:20])], reference
else:  # one batch, its logits off by the noise
    class Noisy(torch.nn.Module):
        def forward(self, inputs):
            return reference(inputs) + noise
    loader, model = [(x[20:], y[20:])], Noisy()
compared = compare_forwards(model, reference, loader, torch.device("cpu"), None)
with open(f"{sys.argv[1]}/rank{ctx.rank}.json", "w") as f:
    json.dump({"gap": compared.gap, "batch_gaps": compared.batch_gaps}, f)
dist.cleanup(ctx)
"""


def test_the_compiled_path_checks_batch_gaps_are_summed_step_by_step_across_ranks_of_unequal_batch_counts(tmp_path):
    """compare_forwards under two gloo ranks, rank 0 with two exact batches and rank 1 with one batch off by some
    noise: every rank gets the same per-step gaps, step 0 holding both ranks' first batches and step 1 rank 0's
    second alone (its count is the larger rank's)."""
    two_gloo_ranks(COMPARE_SCRIPT, str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]
    torch.manual_seed(0)
    reference = torch.nn.Linear(4, 3)
    x = torch.randn(30, 4)
    noise = torch.randn(10, 3)
    with torch.no_grad():
        logits = reference(x)
    centred = logits - logits.mean(-1, keepdim=True)
    gap_sq = (noise - noise.mean(-1, keepdim=True)).square().sum()
    step0 = (gap_sq / centred[:10].square().sum().add(centred[20:].square().sum())).sqrt().item()
    whole = (gap_sq / centred.square().sum()).sqrt().item()
    assert ranks[0]["batch_gaps"] == pytest.approx([step0, 0.0], rel=1e-5, abs=1e-6)
    assert ranks[0]["gap"] == pytest.approx(whole, rel=1e-5)
