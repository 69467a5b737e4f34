"""Inference: sliding-window prediction, fold ensembling, export of SD / SD+ in PC's geometry."""

from gdr_toolkit.inference.model_loader import TrainedModel, load_trained_model
from gdr_toolkit.inference.predictor import CasePrediction, Predictor

__all__ = ["CasePrediction", "Predictor", "TrainedModel", "load_trained_model"]
