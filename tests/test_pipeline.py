"""make_radiomics_pipeline: steps, scikit-learn tooling, and the leakage canaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_selection import SelectKBest, VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.preprocessing import RobustScaler, StandardScaler
from xgboost import XGBClassifier

from radfuse.selection import (
    STEP_NAMES,
    BlockChecker,
    ModalityWiseSelector,
    MRMRSelector,
    PatternAwareSMOTE,
    UnivariateSelector,
    make_radiomics_pipeline,
    selected_counts,
)


def _cv(seed=0, k=5):
    return StratifiedKFold(k, shuffle=True, random_state=seed)


def _xgb():
    return XGBClassifier(n_estimators=30, max_depth=2, n_jobs=1, random_state=0)


# -- structure ---------------------------------------------------------------------------------
def test_default_steps(views):
    pipe = make_radiomics_pipeline(LogisticRegression(), random_state=3)
    assert isinstance(pipe, Pipeline)
    assert tuple(pipe.named_steps) == STEP_NAMES
    assert isinstance(pipe["check"], BlockChecker)
    assert isinstance(pipe["scale"], StandardScaler)
    assert isinstance(pipe["variance"].selector, VarianceThreshold)
    corr = pipe["correlation"].selector
    assert (corr.threshold, corr.method, corr.keep) == (0.9, "spearman", "relevance")
    assert isinstance(pipe["select"].selector, MRMRSelector) and pipe["select"].k == 10
    assert isinstance(pipe["smote"], PatternAwareSMOTE) and pipe["smote"].random_state == 3
    assert isinstance(pipe["impute"], SimpleImputer)  # LogisticRegression cannot take NaN
    assert make_radiomics_pipeline(_xgb())["impute"] == "passthrough"  # XGBoost can
    assert make_radiomics_pipeline(HistGradientBoostingClassifier())["impute"] == "passthrough"


def test_steps_are_replaceable(views):
    X, y = views
    pipe = make_radiomics_pipeline(
        LogisticRegression(),
        scaler=RobustScaler(),
        variance=None,
        correlation=None,
        selector=SelectKBest(k=4),  # a bare selector runs per modality
        sampler=None,
        impute=None,
    )
    assert pipe["variance"] == pipe["correlation"] == pipe["smote"] == "passthrough"
    assert isinstance(pipe["select"], ModalityWiseSelector)
    pipe.fit(X, y)
    assert pipe["select"].n_selected_ == {"MEAN": 4, "SE": 4, "WORST": 4}
    assert pipe["estimator"].n_features_in_ == 12
    assert all(
        c.split("__")[0] in {"MEAN", "SE", "WORST"} for c in pipe[:-1].get_feature_names_out()
    )
    own = ModalityWiseSelector(UnivariateSelector(), k={"MEAN": 1, "SE": 2, "WORST": 3})
    pipe = make_radiomics_pipeline(LogisticRegression(), selector=own).fit(X, y)
    assert pipe["select"].n_selected_ == {"MEAN": 1, "SE": 2, "WORST": 3}
    assert pipe["select"] is not own  # cloned


def test_selected_counts_per_step(views):
    X, y = views
    pipe = make_radiomics_pipeline(LogisticRegression(), k=4, random_state=0).fit(X, y)
    for step in ("variance", "correlation", "select"):
        assert set(pipe[step].n_selected_) == {"MEAN", "SE", "WORST"}
    assert pipe["variance"].n_selected_ == {"MEAN": 10, "SE": 10, "WORST": 10}
    corr = pipe["correlation"].n_selected_
    assert all(3 <= v < 10 for v in corr.values())  # size features collapse within each view
    assert pipe["select"].n_selected_ == {m: min(4, corr[m]) for m in corr}
    table = selected_counts(pipe)
    assert list(table.index) == ["input", "variance", "correlation", "select"]
    assert list(table.columns) == ["MEAN", "SE", "WORST", "total"]
    assert table.loc["input"].tolist() == [10, 10, 10, 30]
    assert table.loc["correlation", "total"] == sum(corr.values())
    assert table.loc["select"].tolist()[:3] == [min(4, corr[m]) for m in ("MEAN", "SE", "WORST")]


def test_variance_step_drops_numerically_constant_features(views):
    X, y = views
    rng = np.random.RandomState(0)
    Xc = X.assign(
        **{
            "SE__flat": 7.0,  # exactly constant
            "SE__float_noise": 1e6 + 1e-9 * rng.randn(len(X)),  # constant up to rounding
        }
    )
    pipe = make_radiomics_pipeline(LogisticRegression(), k=3, random_state=0).fit(Xc, y)
    kept = pipe["variance"].get_feature_names_out()
    assert "SE__flat" not in kept and "SE__float_noise" not in kept
    assert pipe["variance"].n_selected_ == {"MEAN": 10, "SE": 10, "WORST": 10}
    # without the default scaler only exact constants are dropped
    raw = make_radiomics_pipeline(LogisticRegression(), scaler=None, k=3).fit(Xc, y)
    assert pipe["variance"].selector.threshold == 1e-6 and raw["variance"].selector.threshold == 0
    assert "SE__flat" not in raw["variance"].get_feature_names_out()


def test_missing_modalities_reach_nan_tolerant_estimators(views_missing):
    X, y = views_missing
    seen = {}

    class Spy(HistGradientBoostingClassifier):
        def fit(self, X, y):
            seen["X"] = X
            return super().fit(X, y)

    make_radiomics_pipeline(Spy(max_iter=20), k=3, random_state=0).fit(X, y)
    Xf = seen["X"]
    assert isinstance(Xf, pd.DataFrame) and Xf.shape[1] == 9
    assert len(Xf) == 2 * (y == 1).sum()  # balanced by SMOTE
    blocks = {m: Xf.filter(like=f"{m}__").isna() for m in ("MEAN", "SE", "WORST")}
    for b in blocks.values():  # whole-NaN blocks reach the estimator, never partial ones
        assert b.any().any()
        assert (b.all(axis=1) == b.any(axis=1)).all()


def test_mapping_modalities_on_a_plain_array(views):
    X, y = views
    A = X.to_numpy()
    mapping = {"T1": list(range(0, 10)), "T2": list(range(10, 20)), "DWI": list(range(20, 30))}
    pipe = make_radiomics_pipeline(
        LogisticRegression(), modalities=mapping, k=2, random_state=0
    ).fit(A, y.to_numpy())
    assert pipe["select"].n_selected_ == {"T1": 2, "T2": 2, "DWI": 2}
    names = pipe[:-3].get_feature_names_out()
    assert all(n.split("__")[0] in mapping for n in names)
    imputing = make_radiomics_pipeline(
        LogisticRegression(), check=BlockChecker(impute="mean"), modalities=mapping
    )
    assert imputing["check"].modalities == mapping and imputing["check"].impute == "mean"
    with pytest.raises(ValueError, match="modalities= is applied by the 'check' step"):
        make_radiomics_pipeline(LogisticRegression(), check=None, modalities=mapping)


# -- scikit-learn tooling ----------------------------------------------------------------------
@pytest.mark.parametrize("make_estimator", [LogisticRegression, _xgb], ids=["logreg", "xgb"])
def test_cross_val_score_with_missing_modalities(views_missing, make_estimator):
    X, y = views_missing
    pipe = make_radiomics_pipeline(make_estimator(), k=5, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=_cv(), scoring="roc_auc", error_score="raise")
    assert scores.mean() > 0.93


def test_grid_search_tunes_k_per_modality_and_clone(views):
    X, y = views
    pipe = make_radiomics_pipeline(LogisticRegression(), random_state=0)
    grid = GridSearchCV(
        pipe,
        {
            "select__k": [1, {"MEAN": 3, "SE": 1, "WORST": 3}],
            "correlation__selector__threshold": [0.9],
        },
        cv=_cv(k=3),
        scoring="roc_auc",
        error_score="raise",
    ).fit(X, y)
    assert grid.best_score_ > 0.95
    best_k = grid.best_params_["select__k"]
    assert grid.best_estimator_["select"].k == best_k
    twin = clone(pipe).set_params(select__k=2)
    assert twin.get_params()["select__k"] == 2 and pipe.get_params()["select__k"] == 10
    # clone keeps the pandas output, so the modality names still reach the selectors
    twin.fit(X, y)
    assert set(twin["select"].n_selected_) == {"MEAN", "SE", "WORST"}


def test_bad_test_case_is_reported_at_predict(views_missing):
    X, y = views_missing
    pipe = make_radiomics_pipeline(LogisticRegression(), k=3, random_state=0).fit(X, y)
    bad = X.iloc[:20].copy()
    row = int(np.flatnonzero(bad.filter(like="WORST__").notna().all(axis=1))[0])
    bad.iloc[row, bad.columns.get_loc("WORST__symmetry")] = np.nan
    with pytest.raises(ValueError, match=rf"patient '{bad.index[row]}', modality 'WORST'"):
        pipe.predict_proba(bad)
    # the explicit imputation option instead fills the bad value from the training fold
    fixed = make_radiomics_pipeline(
        LogisticRegression(), check=BlockChecker(impute="median"), k=3, random_state=0
    ).fit(X, y)
    assert fixed.predict_proba(bad).shape == (20, 2)


# -- leakage canaries --------------------------------------------------------------------------
def test_canary_shuffled_labels_give_chance_auc(views):
    X, y = views
    aucs = []
    for seed in range(3):
        shuffled = pd.Series(np.random.RandomState(seed).permutation(y.to_numpy()), index=y.index)
        pipe = make_radiomics_pipeline(LogisticRegression(), random_state=seed)
        aucs.append(cross_val_score(pipe, X, shuffled, cv=_cv(seed), scoring="roc_auc").mean())
    assert all(abs(a - 0.5) < 0.1 for a in aucs), aucs
    true = cross_val_score(
        make_radiomics_pipeline(LogisticRegression(), random_state=0),
        X,
        y,
        cv=_cv(0),
        scoring="roc_auc",
    )
    assert true.mean() > 0.95


def test_canary_selection_outside_folds_would_leak():
    """On pure noise, selecting on the whole table before CV inflates the AUC; inside the
    pipeline it stays at chance. If the pipeline leaked, ``inside`` would be high too."""
    rng = np.random.RandomState(0)
    cols = [f"{m}__f{j:03d}" for m in ("T1WI", "FLAIR", "DWI") for j in range(300)]
    X = pd.DataFrame(rng.randn(120, len(cols)), columns=cols)
    y = rng.randint(0, 2, 120)
    cv = _cv(0)
    inside = cross_val_score(
        make_radiomics_pipeline(LogisticRegression(), random_state=0),
        X,
        y,
        cv=cv,
        scoring="roc_auc",
    ).mean()
    selection = make_radiomics_pipeline(LogisticRegression(), random_state=0)[
        : STEP_NAMES.index("smote")
    ].fit(X, y)
    X_leaky = selection.transform(X)  # selection saw every test fold
    assert X_leaky.shape == (120, 30)
    outside = cross_val_score(
        make_radiomics_pipeline(
            LogisticRegression(), variance=None, correlation=None, selector=None, random_state=0
        ),
        X_leaky,
        y,
        cv=cv,
        scoring="roc_auc",
    ).mean()
    assert abs(inside - 0.5) < 0.15, inside
    assert outside > 0.8, outside
    assert outside - inside > 0.25
