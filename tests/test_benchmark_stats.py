"""Benchmark metrics and paired AUC statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from radfuse.benchmark.metrics import compute_metrics, metric_names
from radfuse.benchmark.stats import (
    bootstrap_auc_difference,
    corrected_resampled_ttest,
    delong_test,
)


def _binary(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = y + rng.normal(size=n)
    b = y + 1.5 * rng.normal(size=n)
    return y, a, b


def test_binary_metrics_match_sklearn():
    y, a, _ = _binary()
    p1 = 1 / (1 + np.exp(-(a - 0.5)))
    proba = np.column_stack([1 - p1, p1])
    m = compute_metrics(y, proba, classes=[0, 1])
    pred = (p1 > 0.5).astype(int)
    assert list(m) == metric_names(2)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p1))
    assert m["sensitivity"] == pytest.approx(recall_score(y, pred))
    assert m["specificity"] == pytest.approx(recall_score(y, pred, pos_label=0))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx((m["sensitivity"] + m["specificity"]) / 2)
    # naming the other class positive swaps sensitivity and specificity; AUC is symmetric
    flip = compute_metrics(y, proba, classes=[0, 1], positive_label=0)
    assert flip["sensitivity"] == pytest.approx(m["specificity"])
    assert flip["specificity"] == pytest.approx(m["sensitivity"])
    assert flip["roc_auc"] == pytest.approx(m["roc_auc"])


def test_multiclass_metrics_macro_and_weighted():
    rng = np.random.default_rng(1)
    y = np.repeat(["a", "b", "c"], [50, 30, 20])
    logits = rng.normal(size=(100, 3)) + 1.5 * (y[:, None] == np.array(["a", "b", "c"]))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = compute_metrics(y, proba, classes=["a", "b", "c"])
    pred = np.array(["a", "b", "c"])[proba.argmax(axis=1)]
    assert list(m) == metric_names(3)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr"))
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["f1_weighted"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert m["sensitivity_macro"] == pytest.approx(m["balanced_accuracy"])
    spec = [recall_score(y != c, pred != c) for c in "abc"]
    assert m["specificity_macro"] == pytest.approx(np.mean(spec))
    assert m["specificity_weighted"] == pytest.approx(np.average(spec, weights=[50, 30, 20]))


def test_delong_matches_auc_and_bootstrap():
    y, a, b = _binary()
    d = delong_test(y, a, b)
    assert d["auc_a"] == pytest.approx(roc_auc_score(y, a))
    assert d["auc_b"] == pytest.approx(roc_auc_score(y, b))
    boot = bootstrap_auc_difference(y, a, b, n_bootstrap=2000, random_state=0)
    assert boot["diff"] == pytest.approx(d["diff"])
    assert boot["ci_low"] < d["diff"] < boot["ci_high"]
    # DeLong's standard error agrees with the bootstrap's spread (95% CI ~ +-1.96 se)
    assert (boot["ci_high"] - boot["ci_low"]) / (2 * 1.96) == pytest.approx(d["se"], rel=0.2)
    assert d["p"] == pytest.approx(boot["p"], abs=0.05)
    same = delong_test(y, a, a)
    assert same["diff"] == 0 and same["p"] == 1.0


def test_bootstrap_multiclass_runs():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 120)
    pa = rng.dirichlet(np.ones(3), 120)
    res = bootstrap_auc_difference(y, pa, pa, n_bootstrap=50)
    assert res["diff"] == 0 and res["ci_low"] == 0 and res["ci_high"] == 0


def test_corrected_resampled_ttest_formula():
    d = np.array([0.02, 0.05, -0.01, 0.04, 0.03])
    res = corrected_resampled_ttest(d, n_train=200, n_test=50)
    t = d.mean() / np.sqrt((1 / 5 + 50 / 200) * d.var(ddof=1))
    assert res["t"] == pytest.approx(t)
    assert res["p"] == pytest.approx(2 * stats.t.sf(abs(t), 4))
    # the correction makes it more conservative than the naive t-test over folds
    naive = stats.ttest_1samp(d, 0).pvalue
    assert res["p"] > naive
    assert np.isnan(corrected_resampled_ttest([0.1], 10, 5)["p"])
