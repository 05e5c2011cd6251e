"""The errors vkan expects (bad config, missing data, unreadable checkpoint): each message says what to do,
and the command line prints it as one paragraph, without a traceback (``HYDRA_FULL_ERROR=1`` shows it)."""

from typing import Any, Dict


class VkanError(RuntimeError):
    """An expected failure whose message is the whole story."""


class ConfigError(VkanError, ValueError):
    """A config value or key is invalid; the message names the key and what it accepts."""


class DatasetError(VkanError):
    """A dataset is missing or corrupt; the message says where vkan looked and what to do."""


class CheckpointError(VkanError):
    """A checkpoint is missing, truncated or not a vkan checkpoint; the message says what to do."""


class NonFiniteLossError(VkanError):
    """The training loss became NaN or inf; the last good checkpoint is kept."""


class DeviceStateError(VkanError):
    """What a run holds on its device is not what it loaded, restored or trains (its data changed, a resumed model
    scores otherwise than the run recorded, or the compiled path scores another model); the last good checkpoint
    is kept."""


class CompiledPathError(DeviceStateError):
    """The compiled path's logits are further from those of the same weights outside torch.compile than rounding
    takes them (``vkan.compiled_check.check_compiled_scores``); ``record`` is what summary.json keeps of the check
    (``logit_gap``: their distance, a fraction of the logits' spread; ``batches``, ``batches_over_limit``, and the
    same graphs' second pass as ``again``)."""

    def __init__(self, message: str, record: Dict[str, Any]) -> None:
        super().__init__(message)
        self.record = dict(record)

    @property
    def gap(self) -> float:
        return self.record["logit_gap"]
