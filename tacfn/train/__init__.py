"""Trainer: TrainConfig, fit (selection on validation, logs, checkpoints), predict."""

from tacfn.train.config import TrainConfig
from tacfn.train.fit import TrainingDiverged, TrainResult, fit
from tacfn.train.predict import accuracy, classification_loss, predict

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "accuracy",
    "classification_loss",
    "fit",
    "predict",
]
