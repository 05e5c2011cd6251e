"""Per-run records: metrics.csv (one row per epoch), summary.json, and an optional W&B run."""
from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict

# one row per epoch; *_ema columns are empty without EMA, test_* only in the last epoch's row. Time: epoch_s is the
# epoch's training; eval_s its scoring (validation, and test in the last row; an invocation's first also compiles
# the evaluation graphs and checks the compiled path; empty when not evaluated); wall_s the run's wall_time_s at the
# row (summary.json: every invocation from train() on, an earlier one up to its last checkpoint). Within an
# invocation, a row's wall_s less the row before's, epoch_s and eval_s is what the epoch boundary costs besides:
# the checkpoint, logs and checks
METRIC_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_loss_ema", "val_acc_ema", "test_loss",
                  "test_acc", "test_acc_ema", "lr", "img_per_s", "epoch_s", "eval_s", "wall_s", "peak_mem_gib"]


log = logging.getLogger("vkan.train")  # the training loop's lines, in the run's train.log under Hydra


def report(message: str) -> None:
    """One line to the console and, under Hydra, to the run's train.log."""
    if logging.getLogger().handlers:
        log.info(message)
    else:
        print(message, flush=True)


def wandb_has_login() -> bool:
    """Whether an API key is configured (environment or ~/.netrc), so W&B can run online."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def wandb_mode(requested: str) -> str:
    """W&B mode: ``$WANDB_MODE`` wins, then the config; ``auto`` is online with a login, else offline."""
    mode = os.environ.get("WANDB_MODE") or requested
    if mode == "auto":
        return "online" if wandb_has_login() else "offline"
    return mode


def write_json(path: Path, data: Dict[str, Any]) -> None:
    """Write JSON atomically (a temporary file, then rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


class RunLogger:
    """Writes metrics.csv / summary.json in the run folder and mirrors them to W&B when enabled."""

    def __init__(self, run_dir: Path, logger_cfg, config: Dict[str, Any], run_name: str, enabled: bool = True):
        self.run_dir, self.enabled = Path(run_dir), enabled
        self.csv_path = self.run_dir / "metrics.csv"
        self.wandb = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if logger_cfg is not None and logger_cfg.get("name") == "wandb":
            import wandb

            mode = wandb_mode(logger_cfg.get("mode", "auto"))
            if mode != "disabled":
                self.wandb = wandb.init(
                    project=logger_cfg.project, entity=logger_cfg.get("entity"), group=logger_cfg.get("group"),
                    tags=list(logger_cfg.get("tags") or []), name=run_name, config=config, dir=str(self.run_dir),
                    mode=mode, reinit="finish_previous",
                )

    def log_epoch(self, row: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        new = not self.csv_path.exists()
        columns = METRIC_COLUMNS
        if not new:  # a resumed run appends in the columns its file already has (older runs had fewer)
            with open(self.csv_path, newline="") as f:
                columns = next(csv.reader(f), None) or METRIC_COLUMNS
        with open(self.csv_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k) for k in columns})
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in row.items() if v is not None}, step=row["epoch"])

    def write_summary(self, summary: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        write_json(self.run_dir / "summary.json", summary)
        if self.wandb is not None:
            self.wandb.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str))})

    def drop_epochs_after(self, epochs_done: int) -> int:
        """Remove metrics.csv's rows of the epochs after ``epochs_done``, which a resume trains again (its checkpoint
        is older than the last logged epoch: ``trainer.checkpoint_every`` > 1, or a crash between logging an epoch and
        checkpointing it), and any row a crash left torn (blank, short, or without a whole epoch number); returns
        how many rows went."""
        if not self.enabled or not self.csv_path.exists():
            return 0
        with open(self.csv_path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows or "epoch" not in rows[0]:
            return 0
        header, epoch = rows[0], rows[0].index("epoch")

        def whole(row):
            return len(row) == len(header) and row[epoch].isdigit() and int(row[epoch]) <= epochs_done

        kept = [header] + [r for r in rows[1:] if whole(r)]
        if len(kept) < len(rows):
            tmp = self.csv_path.with_name(f".{self.csv_path.name}.tmp")
            with open(tmp, "w", newline="") as f:
                csv.writer(f).writerows(kept)
            os.replace(tmp, self.csv_path)
        return len(rows) - len(kept)

    def record_resume(self, cfg, epochs_done: int, batches_done: int) -> None:
        """Append this resume (when, from where, with which config values) to resumes.jsonl: config.yaml keeps
        the config the run started with."""
        import time

        from omegaconf import OmegaConf

        entry = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "epochs_done": epochs_done, "batches_done": batches_done,
                 "trainer.epochs": cfg.trainer.epochs, "trainer.max_epochs_this_run": cfg.trainer.max_epochs_this_run,
                 "config": OmegaConf.to_container(cfg, resolve=True)}
        with open(self.run_dir / "resumes.jsonl", "a") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    def finish(self, failed: bool = False) -> None:
        if self.wandb is not None:
            self.wandb.finish(exit_code=1 if failed else 0)
            self.wandb = None
