"""Score a trained run's checkpoint on a dataset split: ``python -m vkan.evaluate RUN_DIR [--split test]``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from omegaconf import OmegaConf

from vkan.checkpoint import load_run
from vkan.data import build_data, resolve_data_dir
from vkan.train import autocast_dtype, evaluate, resolve_device


def evaluate_run(run_dir: str, which: str = "best", split: str = "test", data_dir: Optional[str] = None,
                 batch_size: int = 512, device: str = "auto") -> Dict[str, Any]:
    """Loss and accuracy of ``checkpoints/<which>.pt`` on ``split``; also written to ``eval_<which>_<split>.json``."""
    dev = resolve_device(device)
    run = load_run(run_dir, which=which, device=dev)
    cfg = OmegaConf.create(run.config)
    data = build_data(cfg.data, resolve_data_dir(data_dir or cfg.paths.get("data_dir")), batch_size, dev,
                      seed=cfg.seed, split=split)
    loss, acc = evaluate(run.model, data.val, dev, autocast_dtype(cfg.trainer.precision, dev))
    result = {"run_dir": str(run_dir), "checkpoint": which, "epoch": run.epoch + 1, "split": split,
              "dataset": cfg.data.name, "n_images": data.n_val, "loss": loss, "acc": acc}
    Path(run_dir, f"eval_{which}_{split}.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", help="a run folder written by train.py")
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint")
    parser.add_argument("--split", default="test", choices=["test", "val"],
                        help="test (MNIST/CIFAR test set, Flowers-102 test, imagefolder test/) or the run's val split")
    parser.add_argument("--data-dir", default=None, help="dataset root (default: the run's, then $VKAN_DATA_DIR)")
    parser.add_argument("--batch-size", type=int, default=512, help="evaluation batch size")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args(argv)
    r = evaluate_run(args.run_dir, args.checkpoint, args.split, args.data_dir, args.batch_size, args.device)
    print(f"{r['dataset']} {r['split']} ({r['n_images']} images), {r['checkpoint']}.pt of epoch {r['epoch']}: "
          f"loss {r['loss']:.4f}, accuracy {r['acc']:.4f}")


if __name__ == "__main__":
    main()
