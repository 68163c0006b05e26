"""Confidence intervals, ROC-AUC and confusion matrices for the evaluation report.

Accuracy CIs are percentile bootstraps over problems. Every sampler setting is scored on the same
problems, so all settings share one matrix of resampled problem indices: the CI of a *difference*
between two settings then comes from paired resamples, which is much tighter than comparing two
independent CIs when both settings fail on the same hard problems.
"""

import math

import numpy as np
import torch

from remedi.train import metrics


def bootstrap_indices(n, n_boot=2000, seed=0):
    """(n_boot, n) problem indices drawn with replacement, shared by every setting being compared."""
    if n <= 0:
        raise ValueError("cannot bootstrap an empty set of problems")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _interval(point, resampled, alpha):
    lo, hi = np.quantile(resampled, [alpha / 2, 1 - alpha / 2])
    return {"mean": float(point), "lo": float(lo), "hi": float(hi)}


def accuracy_ci(correct, indices, alpha=0.05):
    """{mean, lo, hi, n} of per-problem 0/1 scores, from resamples `indices` (bootstrap_indices)."""
    correct = np.asarray(correct, dtype=float)
    result = _interval(correct.mean(), correct[indices].mean(axis=1), alpha)
    result["n"] = int(correct.size)
    return result


def paired_difference_ci(correct_a, correct_b, indices, alpha=0.05):
    """{mean, lo, hi} of accuracy(a) - accuracy(b) over the same problems, resampled in pairs."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same problems, got {a.shape} and {b.shape}")
    diff = a - b
    return _interval(diff.mean(), diff[indices].mean(axis=1), alpha)


def roc_auc(scores, labels):
    """P(score of a random positive > that of a random negative), ties counting 1/2; None if one class is empty.

    The rank computation is the trainer's (remedi.train.metrics.roc_auc); this adapter takes lists or arrays
    and reports an undefined AUC as None, which JSON results can hold.
    """
    auc = metrics.roc_auc(torch.as_tensor(np.asarray(scores, dtype=float)), torch.as_tensor(np.asarray(labels)))
    return None if math.isnan(auc) else auc


def confusion_matrix(predicted, labels):
    """Counts for binary predictions vs labels (True = positive class) and the derived rates."""
    predicted, labels = np.asarray(predicted).astype(bool), np.asarray(labels).astype(bool)
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    tn = int((~predicted & ~labels).sum())
    total = tp + fp + fn + tn
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "accuracy": (tp + tn) / total if total else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }
