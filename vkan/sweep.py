"""Sweep bookkeeping for Hydra multiruns: after the last job, name the failed ones and exit non-zero."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Iterable, List, Tuple

from hydra.experimental.callback import Callback


def failed_jobs(sweep_dir: Path, refused: Iterable[str] = ()) -> List[Tuple[str, str]]:
    """(job folder, status) of every job under ``sweep_dir`` that did not finish: its summary.json says
    failed or interrupted, or it has none; and the ``refused`` jobs (stopped before writing a summary of their own,
    so a summary.json there is an earlier run's)."""
    failed = []
    for job in sorted((p for p in Path(sweep_dir).iterdir() if (p / ".hydra").is_dir()), key=lambda p: p.name):
        summary = job / "summary.json"
        status = json.loads(summary.read_text()).get("status", "?") if summary.exists() else "no summary.json"
        if not (status == "finished" or status.startswith("paused")):
            error = json.loads(summary.read_text()).get("error", "") if summary.exists() else ""
            failed.append((job.name, f"{status}{': ' + error if error else ''}"))
        elif job.name in refused:
            failed.append((job.name, "refused before it started (the sweep's log says why); its summary.json is "
                                     "an earlier run's"))
    return failed


class FailedJobsCallback(Callback):
    """Registered in conf/hydra/default.yaml: the sweep runs every job, then fails if any job failed."""

    def __init__(self) -> None:
        self.nan_jobs: List[str] = []  # jobs whose task returned NaN: ``vkan.cli.run_job``'s failed jobs

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        value = getattr(job_return, "_return_value", None)  # not .return_value, which re-raises a job's error
        if isinstance(value, float) and math.isnan(value):
            self.nan_jobs.append(Path(job_return.hydra_cfg.hydra.runtime.output_dir).name)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        failed = failed_jobs(sweep_dir, self.nan_jobs)
        if failed:
            lines = "\n".join(f"  job {name}: {status}" for name, status in failed)
            print(f"error: {len(failed)} sweep job(s) failed (in {sweep_dir}):\n{lines}", file=sys.stderr, flush=True)
            raise SystemExit(1)
