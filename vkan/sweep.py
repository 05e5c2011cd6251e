"""Sweep bookkeeping for Hydra multiruns: after the last job, name the failed ones and exit non-zero."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from hydra.experimental.callback import Callback


# jobs of this process's sweep that vkan.cli.run_job saw fail: {(job folder, job number): error}. A job refused
# before it wrote a summary of its own (its folder's summary.json is an earlier run's) or a resume job, whose folder
# is gone once its log is merged into the resumed run's, shows only here. (A launcher that runs jobs in other
# processes leaves it empty: then only the summaries speak.)
FAILED: Dict[Tuple[str, int], str] = {}


def record_failed_job(job_dir: Path, job_num: int, error: str) -> None:
    FAILED[(str(Path(job_dir).resolve()), int(job_num))] = error


def failed_jobs(sweep_dir: Path, recorded: Optional[Dict[Tuple[str, int], str]] = None) -> List[Tuple[str, str]]:
    """(job, status) of every job folder directly under ``sweep_dir`` whose summary.json says failed or interrupted,
    or that has none; then the ``recorded`` failures (``FAILED``) not already listed, as "folder (job N)"."""
    failed, sweep_dir = [], Path(sweep_dir).resolve()
    for job in sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=lambda p: p.name):
        summary = job / "summary.json"
        status = json.loads(summary.read_text()).get("status", "?") if summary.exists() else "no summary.json"
        if not (status == "finished" or status.startswith("paused")):
            error = json.loads(summary.read_text()).get("error", "") if summary.exists() else ""
            failed.append((job.name, f"{status}{': ' + error if error else ''}"))
    listed = {name for name, _ in failed}
    for (job_dir, num), error in sorted((recorded or {}).items()):
        job = Path(job_dir)
        if sweep_dir not in job.parents:
            continue
        name = job.relative_to(sweep_dir).as_posix()
        if name not in listed or name != str(num):  # a folder named by its job number is listed once
            failed.append((name if name == str(num) else f"{name} (job {num})", f"failed: {error}"))
    return failed


class FailedJobsCallback(Callback):
    """Registered in conf/hydra/default.yaml: the sweep runs every job, then fails if any job failed."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        FAILED.clear()

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        failed = failed_jobs(sweep_dir, FAILED)
        if failed:
            lines = "\n".join(f"  job {name}: {status}" for name, status in failed)
            print(f"error: {len(failed)} sweep job(s) failed (in {sweep_dir}):\n{lines}", file=sys.stderr, flush=True)
            raise SystemExit(1)
