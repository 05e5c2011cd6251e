"""Score a trained run's checkpoint on a dataset split: ``python -m vkan.evaluate RUN_DIR [--split test]``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional

from vkan.checkpoint import CHECKPOINTS, load_run
from vkan.data import build_eval_loader, resolve_data_dir
from vkan.engine import autocast_dtype, evaluate, resolve_device
from vkan.errors import ConfigError, VkanError

SPLITS = ("test", "val", "holdout", "train")


def evaluate_run(run_dir: str, which: str = "best", split: str = "test", data_dir: Optional[str] = None,
                 batch_size: int = 512, device: str = "auto", show_progress: bool = False) -> Dict[str, Any]:
    """Loss and accuracy of a checkpoint (``which``: best, last, best_ema, last_ema) on ``split`` (test; val: the
    run's validation split; holdout; train, unaugmented); also written to ``eval_<which>_<split>.json``."""
    dev = resolve_device(device)
    run = load_run(run_dir, which=which, device=dev)
    cfg = run.config
    validated_on = cfg.data.get("val_split", "test")
    name = validated_on if split == "val" else split
    if name == "holdout" and validated_on != "holdout":
        raise ConfigError(f"{run_dir} trained on its holdout images (it validated on data.val_split="
                          f"{validated_on}), so a holdout score would be a training score; score "
                          f"--split test (or --split train to see the fit), and tune with data.val_split=holdout runs")
    loader, n_images = build_eval_loader(cfg.data, resolve_data_dir(data_dir or cfg.paths.get("data_dir")), name,
                                         batch_size, dev)
    loss, acc = evaluate(run.model, loader, dev, autocast_dtype(cfg.trainer.precision, dev), show_progress=show_progress,
                         desc=f"{cfg.data.name} {name}")
    result = {"run_dir": str(run_dir), "checkpoint": which, "epoch": run.epoch, "split": name,
              "dataset": cfg.data.name, "n_images": n_images, "loss": loss, "acc": acc}
    Path(run_dir, f"eval_{which}_{name}.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", help="a run folder written by train.py")
    parser.add_argument("--checkpoint", default="best", choices=list(CHECKPOINTS),
                        help="which weights: best / last checkpoint, or their EMA (runs with trainer.ema.decay > 0)")
    parser.add_argument("--split", default="test", choices=SPLITS,
                        help="test (the dataset's test split), val (the run's validation split), holdout, train")
    parser.add_argument("--data-dir", default=None, help="dataset root (default: the run's, then $VKAN_DATA_DIR)")
    parser.add_argument("--batch-size", type=int, default=512, help="evaluation batch size")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args(argv)
    try:
        r = evaluate_run(args.run_dir, args.checkpoint, args.split, args.data_dir, args.batch_size, args.device,
                         show_progress=sys.stderr.isatty())
    except VkanError as e:
        raise SystemExit(f"error: {e}")
    print(f"{r['dataset']} {r['split']} ({r['n_images']} images), {r['checkpoint']} weights of epoch {r['epoch']}: "
          f"loss {r['loss']:.4f}, accuracy {r['acc']:.4f}")


if __name__ == "__main__":
    main()
