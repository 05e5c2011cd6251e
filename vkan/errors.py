"""The errors vkan expects (bad config, missing data, unreadable checkpoint): each message says what to do,
and the command line prints it as one paragraph, without a traceback (``HYDRA_FULL_ERROR=1`` shows it)."""

from typing import Tuple


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
    takes them (``vkan.train.check_compiled_scores``); ``gap`` is their distance, a fraction of the logits' spread;
    ``batch_gaps`` each validation batch's own (in the loader's order)."""

    def __init__(self, message: str, gap: float, batch_gaps: Tuple[float, ...] = ()) -> None:
        super().__init__(message)
        self.gap, self.batch_gaps = gap, tuple(batch_gaps)
