"""Multi-GPU scaling of the training app: img/s with N processes against one, same per-GPU batch, in one call.

    python bench/ddp_scaling.py --gpus 2 --json bench/results/ddp_scaling.json
    python bench/ddp_scaling.py --cpu --gpus 2 --epochs 2      # the same plumbing on CPU processes (gloo)

For each case (``CASES``: vit_kan/vit tiny on CIFAR-10 at 512 per GPU, vit_kan/vit small/16 on synthetic 224 px
photos at 128 per GPU) it runs ``torchrun --nproc_per_node=K train.py ...`` for K = 1 and K = --gpus, reads
each run's summary.json (img/s: mean over epochs after the first, which compiles) and writes one row per run:
model, gpus, per_gpu_batch, img_per_s, ratio_vs_1gpu, final val accuracy, commit. With ``--same-global-batch``
it adds a one-process run at the N-process global batch, whose accuracy the N-process run should match.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = {  # name: (train.py overrides, per-GPU batch)
    "cifar10_tiny_kan": (["model=vit_kan", "data=cifar10"], 512),
    "cifar10_tiny_mlp": (["model=vit", "data=cifar10"], 512),
    "photo224_small_kan": (["model=vit_kan", "model.size=small", "data=synthetic", "data.img_size=224",
                            "data.model_suffix=patch16_224", "data.n_train=20000", "data.n_test=2000"], 128),
    "photo224_small_mlp": (["model=vit", "model.size=small", "data=synthetic", "data.img_size=224",
                            "data.model_suffix=patch16_224", "data.n_train=20000", "data.n_test=2000"], 128),
}
CPU_CASE = (["model=vit_kan", "data=synthetic", "data.n_train=800", "data.n_test=200", "model.kwargs.depth=1",
             "+model.kwargs.patch_size=8", "trainer.device=cpu"], 50)


def run(procs: int, overrides, batch: int, epochs: int, out: Path, cpu: bool) -> dict:
    """One training run with ``procs`` processes; its summary.json."""
    env = {**os.environ, "OMP_NUM_THREADS": "1" if cpu else os.environ.get("OMP_NUM_THREADS", "4")}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    args = [*overrides, f"trainer.batch_size={batch}", f"trainer.epochs={epochs}", "logger=none",
            "trainer.progress_bar=false", f"hydra.run.dir={out}"]
    done = subprocess.run(launcher + [str(REPO / "train.py"), *args], cwd=REPO, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads((out / "summary.json").read_text())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=2, help="processes of the multi-GPU runs")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {sorted(CASES)}")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (the first compiles)")
    parser.add_argument("--same-global-batch", action="store_true",
                        help="also one process at the N-process global batch (accuracy check)")
    parser.add_argument("--cpu", action="store_true", help="tiny runs on CPU processes (gloo): the plumbing only")
    parser.add_argument("--json", help="write the rows here (e.g. bench/results/ddp_scaling.json)")
    args = parser.parse_args(argv)
    cases = {"cpu_tiny": CPU_CASE} if args.cpu else {k: CASES[k] for k in args.cases.split(",")}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (overrides, batch) in cases.items():
            plan = [(1, batch), (args.gpus, batch)] + ([(1, batch * args.gpus)] if args.same_global_batch else [])
            base = None
            for procs, per_proc in plan:
                s = run(procs, overrides, per_proc, args.epochs, Path(tmp) / f"{name}_{procs}_{per_proc}", args.cpu)
                base = base or s["img_per_s"]
                rows.append({"case": name, "model": s["model_name"], "gpus": procs, "per_gpu_batch": per_proc,
                             "img_per_s": s["img_per_s"], "ratio_vs_1gpu": s["img_per_s"] / base,
                             "final_val_acc": s.get("final_val_acc"), "ranks_in_sync": s.get("ranks_in_sync"),
                             "epochs": args.epochs, "commit": commit})
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
