"""ComBatHarmonizer: parity with neuroCombat 0.2.12, out-of-fold transform, missing modality
blocks, errors, metadata routing through pipelines, and scikit-learn's estimator checks."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
import sklearn
from imblearn.pipeline import Pipeline as ImbPipeline
from neuroCombat import neuroCombat
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from radfuse.datasets import load_breast_cancer_views, make_multimodal_classification
from radfuse.estimator_checks import expected_failed_checks
from radfuse.harmonization import ComBatHarmonizer

VARIANTS = [
    {},
    {"parametric": False},
    {"mean_only": True},
    {"mean_only": True, "parametric": False},
    {"eb": False},
]


def multicentre(n=150, n_centres=3, seed=0):
    """A two-block table with per-centre affine distortions, integer ages and centre labels."""
    X, y = make_multimodal_classification(
        n_samples=n, modalities={"T1WI": 8, "FLAIR": 6}, random_state=seed
    )
    rng = np.random.default_rng(seed)
    g = np.array([f"C{c}" for c in rng.permutation(np.arange(n) % n_centres)])
    # integer ages are exact in float32, which neuroCombat casts continuous covariates to
    age = rng.integers(30, 80, n).astype(float)
    A = X.to_numpy() + 0.05 * (age[:, None] - 55)
    for c in np.unique(g):
        rows = g == c
        A[rows] = A[rows] * rng.uniform(0.6, 1.8, A.shape[1]) + rng.normal(0, 1.5, A.shape[1])
    X = pd.DataFrame(A, index=X.index, columns=X.columns)
    X.insert(0, "CLIN__age", age)
    return X, y, g


def reference(X, g, covariate=None, **kw):
    """neuroCombat on each block of X (rows where the block is present), as a table."""
    out = X.copy()
    for mod in ("T1WI", "FLAIR"):
        cols = [c for c in X.columns if c.startswith(f"{mod}__")]
        rows = X[cols].notna().all(axis=1).to_numpy()
        covars = pd.DataFrame({"batch": g[rows]})
        if covariate is not None:
            covars["cov"] = X.loc[rows, covariate].to_numpy()
        with contextlib.redirect_stdout(io.StringIO()):
            res = neuroCombat(
                dat=X.loc[rows, cols].to_numpy().T,
                covars=covars,
                batch_col="batch",
                continuous_cols=["cov"] if covariate is not None else None,
                **kw,
            )
        out.loc[rows, cols] = res["data"].T
    return out


@pytest.mark.parametrize("covariate", [None, "CLIN__age"])
@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: "-".join(kw) or "parametric")
def test_fit_transform_matches_neurocombat(kw, covariate):
    X, _, g = multicentre()
    combat = ComBatHarmonizer(passthrough="CLIN", covariates=covariate, **kw)
    out = combat.fit_transform(X, groups=g)
    np.testing.assert_allclose(out, reference(X, g, covariate, **kw), atol=1e-6, rtol=0)
    np.testing.assert_allclose(combat.transform(X, groups=g), out, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kw", VARIANTS[:3], ids=["parametric", "non-parametric", "mean-only"])
def test_breast_cancer_views_match_neurocombat(kw):
    X, _ = load_breast_cancer_views()
    g = np.random.default_rng(1).permutation(np.arange(len(X)) % 4)
    X = X * (1 + 0.2 * g[:, None]) + 0.5 * g[:, None] * X.std().to_numpy()
    out = ComBatHarmonizer(**kw).set_output(transform="pandas").fit_transform(X, groups=g)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(X.columns)
    assert (out.index == X.index).all()
    for mod in ("MEAN", "SE", "WORST"):
        cols = [c for c in X.columns if c.startswith(f"{mod}__")]
        with contextlib.redirect_stdout(io.StringIO()):
            res = neuroCombat(X[cols].to_numpy().T, pd.DataFrame({"batch": g}), "batch", **kw)
        np.testing.assert_allclose(out[cols].to_numpy(), res["data"].T, atol=1e-6, rtol=0)


@pytest.mark.parametrize("covariate", [None, "CLIN__age"])
def test_transform_of_new_rows_applies_training_estimates(covariate):
    """What neuroCombatFromTraining should do: training grand mean, variance, covariate effects
    and the centre's gamma*/delta*."""
    X, _, g = multicentre(n=180)
    train = np.arange(len(X)) % 4 != 0
    combat = ComBatHarmonizer(passthrough="CLIN", covariates=covariate)
    combat.fit(X[train], groups=g[train])
    out = combat.transform(X[~train], groups=g[~train])
    for mod in ("T1WI", "FLAIR"):
        cols = [j for j, c in enumerate(X.columns) if c.startswith(f"{mod}__")]
        covars = pd.DataFrame({"batch": g[train]})
        if covariate is not None:
            covars["age"] = X.loc[train, covariate].to_numpy()
        with contextlib.redirect_stdout(io.StringIO()):
            est = neuroCombat(
                X.iloc[train, cols].to_numpy().T,
                covars,
                "batch",
                continuous_cols=["age"] if covariate else None,
            )["estimates"]
        batches = list(est["batches"])
        k = np.array([batches.index(c) for c in g[~train]])
        cov = 0.0
        if covariate is not None:
            # neuroCombat keeps the covariate effects as mod.mean = beta * age of the training rows
            age = X.loc[train, covariate].to_numpy()
            beta = est["mod.mean"] @ age / (age @ age)
            cov = X.loc[~train, covariate].to_numpy()[:, None] * beta
        sd = np.sqrt(est["var.pooled"][:, 0])
        mean = est["stand.mean"][:, 0] + cov
        s = (X.iloc[~train, cols].to_numpy() - mean) / sd
        expected = (s - est["gamma.star"][k]) / np.sqrt(est["delta.star"][k]) * sd + mean
        np.testing.assert_allclose(out[:, cols], expected, atol=1e-6, rtol=0)


def test_missing_blocks_fit_on_present_rows_and_stay_nan():
    X, _, g = multicentre(n=180)
    flair = [c for c in X.columns if c.startswith("FLAIR__")]
    X.loc[X.index[::5], flair] = np.nan
    X.loc[g == "C2", flair] = np.nan  # centre C2 has no FLAIR at all
    combat = ComBatHarmonizer(passthrough=["CLIN"])
    out = combat.set_output(transform="pandas").fit_transform(X, groups=g)
    assert out[flair].isna().equals(X[flair].isna())
    assert combat.block_groups_["FLAIR"].tolist() == ["C0", "C1"]
    assert combat.gamma_star_["FLAIR"].shape == (2, 6)
    assert combat.gamma_star_["T1WI"].shape == (3, 8)
    np.testing.assert_allclose(out, reference(X, g), atol=1e-6, rtol=0)
    assert combat.n_present_["FLAIR"] == int(X[flair].notna().all(axis=1).sum())
    # a new C2 patient with FLAIR has no FLAIR estimates
    with pytest.raises(ValueError, match=r"centre 'C2' .*modality 'FLAIR'"):
        combat.transform(multicentre(n=180)[0].iloc[:10], groups=np.full(10, "C2"))


def test_unseen_centre_error_and_pooled():
    X, _, g = multicentre()
    combat = ComBatHarmonizer(passthrough="CLIN").fit(X, groups=g)
    new = np.array(["C0", "C9"] * 5)
    with pytest.raises(ValueError, match=r"centre 'C9' of patient .* modality 'T1WI'"):
        combat.transform(X.iloc[:10], groups=new)
    with pytest.raises(ValueError, match="transform needs the centre of each row"):
        combat.transform(X.iloc[:10])
    pooled = ComBatHarmonizer(passthrough="CLIN", unseen="pooled").fit(X, groups=g)
    out = pooled.transform(X.iloc[:10], groups=new)
    np.testing.assert_array_equal(out[1::2], X.iloc[1:10:2].to_numpy())
    np.testing.assert_allclose(out[::2], combat.transform(X.iloc[:10:2], groups=new[::2]))
    np.testing.assert_array_equal(pooled.transform(X.iloc[:10]), X.iloc[:10].to_numpy())


def test_errors_name_centre_patient_modality_and_column():
    X, _, g = multicentre()
    g1 = g.astype(object)
    g1[0] = "lonely"
    with pytest.raises(ValueError, match=r"centre 'lonely' has a single row with modality"):
        ComBatHarmonizer().fit(X, groups=g1)
    ComBatHarmonizer(mean_only=True, passthrough="CLIN").fit(X, groups=g1)  # no scale needed
    with pytest.raises(ValueError, match="groups has 149 centre labels for 150 rows"):
        ComBatHarmonizer().fit(X, groups=g[1:])
    with pytest.raises(ValueError, match="no centre for 1 row"):
        ComBatHarmonizer().fit(X, groups=np.where(np.arange(150) == 3, None, g))
    bad = X.copy()
    bad.iloc[4, 3] = np.nan
    with pytest.raises(ValueError, match=rf"patient '{X.index[4]}', modality 'T1WI'"):
        ComBatHarmonizer().fit(bad, groups=g)
    fitted = ComBatHarmonizer(passthrough="CLIN").fit(X, groups=g)
    with pytest.raises(ValueError, match=rf"patient '{X.index[4]}', modality 'T1WI'"):
        fitted.transform(bad, groups=g)
    nan_age = X.copy()
    nan_age.iloc[7, 0] = np.nan
    with pytest.raises(
        ValueError, match=rf"covariate 'CLIN__age' is NaN for patient '{X.index[7]}'"
    ):
        ComBatHarmonizer(covariates=["CLIN__age"]).fit(nan_age, groups=g)
    with pytest.raises(ValueError, match=r"covariates \['CLIN__sex'\] are not columns"):
        ComBatHarmonizer(covariates=["CLIN__sex"]).fit(X, groups=g)
    confounded = X.assign(CLIN__age=(g == "C0").astype(float))
    with pytest.raises(ValueError, match=r"rank-deficient .* confounded with the centres"):
        ComBatHarmonizer(covariates="CLIN__age", passthrough="CLIN").fit(confounded, groups=g)
    with pytest.raises(ValueError, match=r"modality 'CLIN' has 1 feature"):
        ComBatHarmonizer().fit(X, groups=g)  # CLIN__age alone, harmonised with eb=True
    with pytest.raises(ValueError, match=r"passthrough names modalities \['PET'\]"):
        ComBatHarmonizer(passthrough="PET").fit(X, groups=g)
    with pytest.raises(ValueError, match="fitted without groups"):
        ComBatHarmonizer().fit(X).transform(X, groups=g)


def test_constant_feature_passes_through_with_warning():
    X, _, g = multicentre()
    X["T1WI__flat"] = np.where(g == "C1", 3.0, X["T1WI__" + X.columns[1].split("__")[1]])
    combat = ComBatHarmonizer(passthrough="CLIN")
    with pytest.warns(UserWarning, match=r"\['T1WI__flat'\] are constant within a training"):
        out = combat.fit_transform(X, groups=g)
    assert combat.unadjusted_ == ["T1WI__flat"]
    np.testing.assert_array_equal(out[:, -1], X["T1WI__flat"].to_numpy())
    assert combat.gamma_star_["T1WI"].shape == (3, 8)


def test_no_groups_is_one_centre_and_y_is_ignored():
    X, y, g = multicentre()
    np.testing.assert_array_equal(ComBatHarmonizer().fit_transform(X), X.to_numpy())
    a = ComBatHarmonizer(passthrough="CLIN").fit_transform(X, y, groups=g)
    b = ComBatHarmonizer(passthrough="CLIN").fit_transform(X, groups=g)
    np.testing.assert_array_equal(a, b)


def centre_means_in_sd(A, g):
    """Largest |mean of a centre - overall mean| over features, in overall SD units."""
    z = (A - A.mean(axis=0)) / A.std(axis=0)
    return max(np.abs(z[g == c].mean(axis=0)).max() for c in np.unique(g))


def test_harmonisation_removes_centre_means_out_of_fold():
    X, _, g = multicentre(n=300)
    feats = X.drop(columns="CLIN__age")
    train = np.arange(len(X)) % 3 != 0
    combat = ComBatHarmonizer().fit(feats[train], groups=g[train])
    out = combat.transform(feats[~train], groups=g[~train])
    before = centre_means_in_sd(feats[~train].to_numpy(), g[~train])
    after = centre_means_in_sd(out, g[~train])
    assert before > 1.0 and after < 0.5, (before, after)


PIPELINES = [
    pytest.param(Pipeline, id="sklearn-Pipeline"),
    pytest.param(ImbPipeline, id="imblearn-Pipeline"),
]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_metadata_routing_through_pipelines(pipeline):
    X, y, g = multicentre(n=180)
    X = X.drop(columns="CLIN__age")
    train = np.arange(len(X)) % 3 != 0
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = pipeline([("combat", ComBatHarmonizer()), ("clf", LogisticRegression())])
        pipe.fit(X[train], y[train], groups=g[train])
        assert pipe[0].groups_.tolist() == ["C0", "C1", "C2"]
        expected = pipe[0].transform(X[~train], groups=g[~train])
        np.testing.assert_allclose(pipe[:-1].transform(X[~train], groups=g[~train]), expected)
        proba = pipe.predict_proba(X[~train], groups=g[~train])
        np.testing.assert_allclose(proba, pipe[-1].predict_proba(expected))
        # the pipeline's own score routes groups to transform: each test fold is harmonised
        cv = StratifiedKFold(3, shuffle=True, random_state=0)
        scores = cross_val_score(pipe, X, y, cv=cv, params={"groups": g}, error_score="raise")
        assert np.isfinite(scores).all()
        search = GridSearchCV(pipe, {"clf__C": [0.1, 1.0]}, cv=cv, error_score="raise")
        assert np.isfinite(search.fit(X, y, groups=g).best_score_)
        # a named scorer calls predict_proba without metadata: the test rows lack centres
        with pytest.raises(ValueError, match="transform needs the centre of each row"):
            cross_val_score(
                pipe, X, y, cv=cv, params={"groups": g}, scoring="roc_auc", error_score="raise"
            )
        pipe.set_params(combat__unseen="pooled")
        scores = cross_val_score(pipe, X, y, cv=cv, params={"groups": g}, scoring="roc_auc")
        assert np.isfinite(scores).all()


# groups=None is one centre: the checks exercise validation, pandas output and the identity
@parametrize_with_checks(
    [
        ComBatHarmonizer(),
        ComBatHarmonizer(parametric=False, unseen="pooled"),
        ComBatHarmonizer(mean_only=True, eb=False),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_scaler_then_combat_keeps_blocks():
    """Inside a pandas-output pipeline the '<MODALITY>__' names (hence the blocks) reach ComBat."""
    X, y, g = multicentre()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("scale", StandardScaler()), ("combat", ComBatHarmonizer())])
        pipe.set_output(transform="pandas")
        with pytest.raises(ValueError, match=r"modality 'CLIN' has 1 feature"):
            pipe.fit(X, y, groups=g)
        pipe.set_params(combat__passthrough="CLIN").fit(X, y, groups=g)
        assert pipe[-1].harmonized_modalities_ == ["T1WI", "FLAIR"]


def test_shared_table_checks_name_column_patient_and_block():
    X, _, g = multicentre(n=90)
    flair = [c for c in X.columns if c.startswith("FLAIR__")]
    bad = X.astype(object)
    bad.iloc[4, 3] = "1.2.3"
    with pytest.raises(ValueError, match=rf"{X.columns[3]}.*'1\.2\.3'"):
        ComBatHarmonizer(passthrough=["CLIN"]).fit(bad, groups=g)
    # a block no training row had is not read at transform
    train = X.copy()
    train[flair] = np.nan
    combat = ComBatHarmonizer(passthrough=["CLIN"]).fit(train, groups=g)
    assert combat.seen_modalities_.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="FLAIR"):
        combat.transform(X.iloc[:5], groups=g[:5])
