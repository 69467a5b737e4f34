"""``PredictionSpec``: what a trained network reads and what its output means.

A trainer declares it with two class attributes (``prediction_target``, ``input_channel_names``); the
checkpoint stores both as top-level keys, so the predictor knows how to feed the network and how to turn
its output into images without importing trainer code:

- ``"contrast_signal"`` (the paper's method, default): inputs z_LD, x_LD, s_LD; the output is the
  noise-normalised contrast signal yhat (target y_SD, eq. 2); SD = x_PC + y~ and SD+ = x_LD + y~.
- ``"standard_dose"`` (direct-regression baselines): the output is x_SD itself in PC's normalised units
  (target: the stored ``x_sd`` channel); there is no SD+.

Checkpoints written before these keys existed (or with the value None) read as the defaults above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

PredictionTarget = Literal["contrast_signal", "standard_dose"]
CONTRAST_SIGNAL_INPUTS = ("z_ld", "x_ld", "s_ld")
#: Preprocessed arrays that exist at test time (no SD): the only channels a network may read.
TEST_TIME_CHANNELS = ("z_ld", "x_ld", "s_ld", "x_pc")
#: Stored channel that is the training target of each prediction target.
TARGET_CHANNELS: dict[str, str] = {"contrast_signal": "y_sd", "standard_dose": "x_sd"}


@dataclass(frozen=True)
class PredictionSpec:
    """The network's input channels and the meaning of its (single-channel) output.

    Attributes:
        prediction_target: ``"contrast_signal"`` or ``"standard_dose"`` (module docstring).
        input_channel_names: preprocessed channels stacked as the network input, in order; each one of
            :data:`TEST_TIME_CHANNELS`.
    """

    prediction_target: PredictionTarget = "contrast_signal"
    input_channel_names: tuple[str, ...] = CONTRAST_SIGNAL_INPUTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_channel_names", tuple(self.input_channel_names))
        if self.prediction_target not in get_args(PredictionTarget):
            raise ValueError(
                f"prediction_target must be one of {get_args(PredictionTarget)}, got {self.prediction_target!r}"
            )
        unknown = [name for name in self.input_channel_names if name not in TEST_TIME_CHANNELS]
        if not self.input_channel_names or unknown:
            raise ValueError(
                f"input_channel_names must be a non-empty selection of {TEST_TIME_CHANNELS} (the arrays "
                f"preprocessing makes without SD), got {self.input_channel_names!r}"
            )

    @property
    def target_channel(self) -> str:
        """The stored channel the network is trained to predict (``y_sd`` or ``x_sd``)."""
        return TARGET_CHANNELS[self.prediction_target]

    def to_json_dict(self) -> dict[str, Any]:
        """``{"prediction_target": ..., "input_channel_names": [...]}`` (the checkpoint's keys)."""
        return {
            "prediction_target": self.prediction_target,
            "input_channel_names": list(self.input_channel_names),
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> PredictionSpec:
        """The spec a checkpoint records; a missing or None key takes the contrast-signal default."""
        values = {
            key: checkpoint[key]
            for key in ("prediction_target", "input_channel_names")
            if checkpoint.get(key) is not None
        }
        return cls(**values)
