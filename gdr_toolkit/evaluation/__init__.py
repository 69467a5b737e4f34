"""Evaluation: PSNR_I/B/L, SSIM, MAE_CE and relative enhancement (paper section 4), folder evaluation and
paired t-tests (documentation/evaluation.md)."""

from gdr_toolkit.evaluation.case_evaluation import MetricOptions
from gdr_toolkit.evaluation.evaluate_folder import FolderEvaluationOptions, evaluate_predictions
from gdr_toolkit.evaluation.statistics import PairedTestResult, compare_summaries, paired_t_test
from gdr_toolkit.evaluation.summary import EvaluationSummary

__all__ = [
    "EvaluationSummary",
    "FolderEvaluationOptions",
    "MetricOptions",
    "PairedTestResult",
    "compare_summaries",
    "evaluate_predictions",
    "paired_t_test",
]
