"""NaN-tolerant filters and ModalityWiseSelector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radfuse.selection import (
    CorrelationFilter,
    ModalityWiseSelector,
    MRMRSelector,
    UnivariateSelector,
    anova_scores,
    l1_selector,
    mann_whitney_scores,
    nan_correlation,
)


# -- scores and correlations -------------------------------------------------------------------
@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_nan_correlation_matches_pandas_pairwise_complete(views_missing, method):
    X, _ = views_missing
    X = X.copy()
    X.iloc[::7, 3] = np.nan  # scattered NaN too, not only blocks
    expected = X.corr(method=method, min_periods=3).to_numpy()
    got = nan_correlation(X.to_numpy(), method=method)
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_nan_correlation_between_two_tables_and_constant_columns():
    rng = np.random.RandomState(0)
    A = rng.randn(40, 3)
    A[:, 2] = 1.0
    B = np.column_stack([A[:, 0] * 2 + 1, -A[:, 1]])
    R = nan_correlation(A, B)
    np.testing.assert_allclose(R[:2], [[1.0, R[0, 1]], [R[1, 0], -1.0]])
    assert np.isnan(R[2]).all()  # constant column: undefined, not 0 or 1


def test_anova_scores_equal_f_classif_on_present_rows(views_missing):
    X, y = views_missing
    A, yv = X.to_numpy(), y.to_numpy()
    scores, p = anova_scores(A, yv)
    for j in (0, 12, 25):
        rows = ~np.isnan(A[:, j])
        f, pv = f_classif(A[rows][:, [j]], yv[rows])
        assert scores[j] == pytest.approx(f[0], rel=1e-12)
        assert p[j] == pytest.approx(pv[0], rel=1e-9)


def test_mann_whitney_scores_are_folded_auc(views_missing):
    X, y = views_missing
    A, yv = X.to_numpy(), y.to_numpy()
    scores, p = mann_whitney_scores(A, yv)
    for j in (1, 15, 29):
        rows = ~np.isnan(A[:, j])
        auc = roc_auc_score(yv[rows] == 0, A[rows, j])
        assert scores[j] == pytest.approx(max(auc, 1 - auc), rel=1e-12)
        ref = stats.mannwhitneyu(A[rows & (yv == 0), j], A[rows & (yv == 1), j])
        assert p[j] == pytest.approx(ref.pvalue, rel=1e-9)
    # WORST__area separates the classes far better than SE__texture
    cols = list(X.columns)
    assert scores[cols.index("WORST__area")] > 0.9 > 0.6 > scores[cols.index("SE__texture")]


def test_mann_whitney_scores_three_classes_are_kruskal():
    X, y = load_breast_cancer(return_X_y=True)
    y3 = np.where(X[:, 0] > 17, 2, y)
    scores, p = mann_whitney_scores(X[:, :3], y3)
    ref = stats.kruskal(*[X[y3 == c, :3] for c in (0, 1, 2)], axis=0)
    np.testing.assert_allclose(scores, ref.statistic)
    np.testing.assert_allclose(p, ref.pvalue)


# -- filters -----------------------------------------------------------------------------------
def _pair_table(seed=0, n=120):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, n)
    weak = rng.randn(n) + 0.3 * y
    strong = weak + 0.15 * rng.randn(n) + 0.6 * y  # correlated with weak, more relevant
    other = rng.randn(n) + 0.5 * y
    X = pd.DataFrame({"A__weak": weak, "A__strong": strong, "A__other": other})
    return X, y


def test_correlation_filter_keep_first_and_keep_relevance():
    X, y = _pair_table()
    rho = stats.spearmanr(X["A__weak"], X["A__strong"]).statistic
    assert 0.9 < rho < 0.99
    first = CorrelationFilter(threshold=0.9, keep="first").fit(X)
    assert list(first.get_feature_names_out()) == ["A__weak", "A__other"]
    assert first.dropped_["A__strong"][0] == "A__weak"
    assert first.dropped_["A__strong"][1] == pytest.approx(rho)
    rel = CorrelationFilter(threshold=0.9, keep="relevance").fit(X, y)
    assert list(rel.get_feature_names_out()) == ["A__strong", "A__other"]
    # a threshold above the correlation keeps everything
    assert CorrelationFilter(threshold=0.99, keep="first").fit(X).support_.all()


def test_correlation_filter_on_breast_cancer_drops_size_duplicates(views):
    X, y = views
    cf = CorrelationFilter(threshold=0.9, method="spearman").fit(X, y)
    kept = set(cf.get_feature_names_out())
    # radius, perimeter and area of the same view are near-identical (rho > 0.98): one survives
    for view in ("MEAN", "WORST"):
        size = {f"{view}__radius", f"{view}__perimeter", f"{view}__area"}
        assert len(kept & size) <= 1
    # every kept pair is at most 0.9 correlated, pairwise-complete
    R = np.abs(X[sorted(kept)].corr(method="spearman").to_numpy())
    np.fill_diagonal(R, 0)
    assert R.max() <= 0.9
    assert len(kept) + len(cf.dropped_) == 30


def test_correlation_filter_ignores_missing_blocks(views_missing):
    X, y = views_missing
    cf = CorrelationFilter().fit(X, y)
    Xt = cf.transform(X)
    assert np.isnan(Xt).sum() > 0  # NaN passes through
    assert 0 < Xt.shape[1] < 30


def _mrmr_reference(X: pd.DataFrame, y, k):
    """Plain FCQ mRMR: F relevance on present rows, mean |pairwise-complete Pearson| redundancy."""
    F = np.array([f_classif(X[[c]].dropna(), y[X[c].notna()])[0][0] for c in X.columns])
    C = np.abs(X.corr(method="pearson").to_numpy())
    chosen = [int(np.argmax(F))]
    while len(chosen) < k:
        score = [
            -np.inf if j in chosen else F[j] / max(C[j, chosen].mean(), 1e-3)
            for j in range(X.shape[1])
        ]
        chosen.append(int(np.argmax(score)))
    return chosen


def test_mrmr_matches_reference_and_avoids_redundancy(views, views_missing):
    X, y = views
    F = f_classif(X, y)[0]
    for data in (X, views_missing[0]):
        sel = MRMRSelector(k=8).fit(data, y)
        assert list(sel.ranking_) == _mrmr_reference(data, y, 8)
    sel = MRMRSelector(k=5).fit(X, y)
    assert sel.ranking_[0] == int(np.argmax(F))
    rng = np.random.RandomState(0)
    best = X.iloc[:, int(np.argmax(F))]
    noisy_copy = best + 0.01 * best.std() * rng.randn(len(X))  # rho > 0.99, slightly less F
    Xd = X.assign(**{"MEAN__copy": noisy_copy})
    second = MRMRSelector(k=2).fit(Xd, y).ranking_[1]
    assert Xd.columns[second] != "MEAN__copy"
    assert MRMRSelector(k=2, scheme="difference").fit(Xd, y).ranking_[1] != 30


def test_mrmr_and_univariate_with_missing_blocks(views_missing):
    X, y = views_missing
    for sel in (MRMRSelector(k=4), UnivariateSelector(k=4), UnivariateSelector("anova", k=4)):
        Xt = sel.set_output(transform="pandas").fit(X, y).transform(X)
        assert Xt.shape == (len(X), 4)
        assert all("__" in c for c in Xt.columns)
    uni = UnivariateSelector(k=3).fit(X, y)
    top = np.argsort(-mann_whitney_scores(X.to_numpy(), y.to_numpy())[0], kind="stable")[:3]
    assert sorted(np.flatnonzero(uni.support_)) == sorted(top)


def test_filters_errors(views):
    X, y = views
    with pytest.raises(ValueError, match="k=40 is larger than n_features=30"):
        MRMRSelector(k=40).fit(X, y)
    with pytest.raises(ValueError, match="single class"):
        UnivariateSelector().fit(X, np.zeros(len(X)))
    Xi = X.copy()
    Xi.iloc[4, 2] = np.inf
    with pytest.raises(ValueError, match=r"infinite.*'P0*4'.*MEAN__perimeter|infinite.*MEAN__per"):
        CorrelationFilter().fit(Xi, y)
    with pytest.raises(ValueError, match="requires y"):
        CorrelationFilter(keep="relevance").fit(X)


# -- ModalityWiseSelector ----------------------------------------------------------------------
def test_modality_wise_fits_each_block_on_present_rows(views_missing):
    X, y = views_missing
    sel = ModalityWiseSelector(SelectKBest(f_classif), k=2).fit(X, y)
    assert sel.n_selected_ == {"MEAN": 2, "SE": 2, "WORST": 2}
    for mod in ("MEAN", "SE", "WORST"):
        block = X.filter(like=f"{mod}__")
        rows = block.notna().all(axis=1).to_numpy()
        assert sel.n_present_[mod] == rows.sum() < len(X)
        ref = SelectKBest(f_classif, k=2).fit(block[rows], y[rows])
        expected = set(block.columns[ref.get_support()])
        got = {c for c in sel.get_feature_names_out() if c.startswith(f"{mod}__")}
        assert got == expected
    Xt = sel.set_output(transform="pandas").transform(X)
    assert list(Xt.columns) == list(sel.get_feature_names_out())
    assert Xt.index.equals(X.index)
    # missing blocks pass through as NaN blocks
    pd.testing.assert_frame_equal(Xt.isna(), X[Xt.columns].isna())


def test_modality_wise_k_forms(views):
    X, y = views
    sel = ModalityWiseSelector(UnivariateSelector(), k=0.25).fit(X, y)
    assert sel.n_selected_ == {"MEAN": 2, "SE": 2, "WORST": 2}  # round(2.5) = 2
    sel = ModalityWiseSelector(UnivariateSelector(), k={"MEAN": 1, "WORST": 0.5}).fit(X, y)
    # SE not listed: the selector's own k (10)
    assert sel.n_selected_ == {"MEAN": 1, "SE": 10, "WORST": 5}
    assert sel.k_ == {"MEAN": 1, "SE": None, "WORST": 5}
    # default selector: mRMR, min(10, block size)
    assert ModalityWiseSelector().fit(X, y).n_selected_ == {"MEAN": 10, "SE": 10, "WORST": 10}
    # RFE-style and SelectFromModel-style parameters take k too
    sfm = ModalityWiseSelector(l1_selector(C=1.0), k=3).fit(X.apply(stats.zscore), y)
    assert all(v <= 3 for v in sfm.n_selected_.values())
    assert sfm.k_ == {"MEAN": 3, "SE": 3, "WORST": 3}


def test_modality_wise_k_too_large_and_clip(views):
    X, y = views
    with pytest.raises(ValueError, match=r"k=12 is larger than modality 'MEAN', which has 10"):
        ModalityWiseSelector(UnivariateSelector(), k=12).fit(X, y)
    with pytest.raises(ValueError, match=r"modality 'MEAN'.*k=11 is larger than n_features=10"):
        ModalityWiseSelector(UnivariateSelector(k=11)).fit(X, y)
    sel = ModalityWiseSelector(UnivariateSelector(k=11), clip_k=True).fit(X, y)
    assert sel.n_selected_ == {"MEAN": 10, "SE": 10, "WORST": 10}
    with pytest.raises(ValueError, match=r"names modalities \['T2'\]"):
        ModalityWiseSelector(UnivariateSelector(), k={"T2": 1}).fit(X, y)
    with pytest.raises(ValueError, match="VarianceThreshold has none of the parameters"):
        ModalityWiseSelector(VarianceThreshold(), k=2).fit(X, y)


def test_modality_wise_keeps_one_feature_per_block(views):
    X, y = views
    Xs = X.apply(stats.zscore)
    strict = l1_selector(C=1e-4)  # zeroes every coefficient
    with pytest.warns(UserWarning, match="kept no feature of modality"):
        sel = ModalityWiseSelector(strict).fit(Xs, y)
    assert sel.n_selected_ == {"MEAN": 1, "SE": 1, "WORST": 1}
    assert sel.fallback_ == ["MEAN", "SE", "WORST"]
    # the fallback keeps each block's best feature by ANOVA F
    for mod in ("MEAN", "SE", "WORST"):
        block = Xs.filter(like=f"{mod}__")
        best = block.columns[np.argmax(f_classif(block, y)[0])]
        assert best in sel.get_feature_names_out()


def test_modality_wise_bad_input(views, views_missing):
    X, y = views
    Xm, _ = views_missing
    bad = Xm.copy()
    row = int(np.flatnonzero(bad.filter(like="SE__").notna().all(axis=1))[3])
    bad.iloc[row, bad.columns.get_loc("SE__area")] = np.nan
    pid = bad.index[row]
    with pytest.raises(ValueError, match=rf"patient '{pid}', modality 'SE': 1 of 10 values NaN"):
        ModalityWiseSelector().fit(bad, y)
    sel = ModalityWiseSelector(k=2).fit(Xm, y)
    with pytest.raises(ValueError, match=rf"patient '{pid}', modality 'SE'"):
        sel.transform(bad)
    inf = X.copy()
    inf.iloc[7, 25] = -np.inf
    with pytest.raises(ValueError, match=rf"infinite.*'{X.index[7]}'.*WORST__compactness"):
        ModalityWiseSelector().fit(inf, y)
    # every row of class 0 lacks SE
    gone = X.copy()
    gone.loc[(y == 0).to_numpy(), gone.columns.str.startswith("SE__")] = np.nan
    with pytest.raises(ValueError, match=r"every row of class 0 lacks modality 'SE'"):
        ModalityWiseSelector().fit(gone, y)
    # ... which an unsupervised selector does not care about
    ModalityWiseSelector(VarianceThreshold()).fit(gone, y)
    with pytest.raises(ValueError, match=r"single class.*StratifiedKFold"):
        ModalityWiseSelector().fit(X, np.ones(len(X), dtype=int))
    allgone = X.copy()
    allgone.loc[:, allgone.columns.str.startswith("WORST__")] = np.nan
    with pytest.raises(ValueError, match="no training row has modality 'WORST'"):
        ModalityWiseSelector().fit(allgone, y)


def test_modality_wise_hints_at_lost_column_names(views):
    X, y = views
    pipe = make_pipeline(StandardScaler(), ModalityWiseSelector(k={"MEAN": 2}))
    with pytest.raises(ValueError, match=r"set_output\(transform='pandas'\)"):
        pipe.fit(X, y)
    pipe.set_output(transform="pandas").fit(X, y)
    assert pipe[1].n_selected_ == {"MEAN": 2, "SE": 10, "WORST": 10}


def test_l1_selector_is_sparse_l1(views):
    X, y = views
    Xs = X.apply(stats.zscore)
    sel = l1_selector(C=0.05).fit(Xs, y)
    coef = sel.estimator_.estimators_[0].coef_.ravel()
    assert 0 < (coef != 0).sum() < 15  # L1 zeroes most coefficients (L2 would zero none)
    np.testing.assert_array_equal(sel.get_support(), np.abs(coef) > 1e-5)


def test_modality_wise_plain_array_and_explicit_mapping():
    X, y = load_breast_cancer(return_X_y=True)
    one = ModalityWiseSelector(UnivariateSelector(k=4)).fit(X, y)
    assert one.modalities_ == ["X"] and one.n_selected_ == {"X": 4}
    assert list(one.get_feature_names_out()) == [f"x{j}" for j in np.flatnonzero(one.support_)]
    mapping = {"A": list(range(0, 20)), "B": list(range(20, 30))}
    two = ModalityWiseSelector(UnivariateSelector(), k=3, modalities=mapping).fit(X, y)
    assert two.n_selected_ == {"A": 3, "B": 3}
    assert two.support_[:20].sum() == 3 and two.support_[20:].sum() == 3


def test_modality_wise_grid_search_tunes_k(views):
    X, y = views
    pipe = make_pipeline(
        StandardScaler(), ModalityWiseSelector(UnivariateSelector()), LogisticRegression()
    ).set_output(transform="pandas")  # the block names must reach the selector
    grid = GridSearchCV(
        pipe,
        {
            "modalitywiseselector__k": [1, 3, {"MEAN": 3, "SE": 1, "WORST": 5}],
        },
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        scoring="roc_auc",
        error_score="raise",
    ).fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 3
    assert grid.best_score_ > 0.95
    chosen = grid.best_estimator_[1].n_selected_
    assert chosen == {m: grid.best_params_["modalitywiseselector__k"] for m in chosen} or (
        chosen == grid.best_params_["modalitywiseselector__k"]
    )
