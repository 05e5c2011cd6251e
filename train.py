"""Train a ViT-KAN (or its MLP twin): `python train.py model=vit_kan data=cifar10`; `-m` for sweeps."""
import logging
import math

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

log = logging.getLogger("vkan")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns ``cfg.optimized_metric`` of the run's summary for sweepers.

    In a multirun a failing job is logged (to its ``train.log``) and scored NaN, so the sweep goes on;
    a single run re-raises, so the command exits non-zero.
    """
    from vkan.train import train

    try:
        summary = train(cfg)
    except Exception:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            raise
        log.exception("job %s failed; the sweep continues", HydraConfig.get().job.num)
        return math.nan
    return summary.get(cfg.optimized_metric)


if __name__ == "__main__":
    main()
