"""MMTClassifier: the 6 fixed configurations, any-subset, pipelines, search, persistence."""

import itertools

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

from radfuse.datasets import load_breast_cancer_views
from radfuse.estimators import MMTClassifier
from radfuse.nn.mmt import MMT

torch.set_num_threads(1)
VIEWS = ("MEAN", "SE", "WORST")


@pytest.fixture(scope="module")
def views():
    X, y = load_breast_cancer_views()
    X = (X - X.mean()) / X.std()
    rows = np.random.default_rng(0).permutation(len(y))[:240]
    return X.iloc[rows], y.iloc[rows]


def small(inputs=None, **kw):
    params = dict(d_model=16, head_dims=(32,), max_epochs=8, lr=3e-3, device="cpu", random_state=0)
    params.update(kw)
    return MMTClassifier(inputs, **params)


def blank(X, *modalities, rows=slice(None)):
    X = X.copy()
    cols = [c for c in X.columns if c.split("__")[0] in modalities]
    X.iloc[rows, [X.columns.get_loc(c) for c in cols]] = np.nan
    return X


CONFIGS = [list(c) for k in (2, 1) for c in itertools.combinations(VIEWS, k)]


@pytest.mark.parametrize("inputs", CONFIGS, ids=lambda c: "+".join(c))
def test_fixed_configurations_train_and_predict(views, inputs):
    X, y = views
    est = small(inputs).fit(X, y)
    targets = [v for v in VIEWS if v not in inputs]
    assert est.input_modalities_ == inputs and est.target_modalities_ == targets
    # SE alone is the weakest view (logistic regression: 0.87 training accuracy).
    assert est.score(X, y) > (0.8 if inputs == ["SE"] else 0.88)
    # The reconstructed modalities are ignored at predict time and may be NaN.
    np.testing.assert_array_equal(est.predict_proba(blank(X, *targets)), est.predict_proba(X))
    # One missing token (and one reconstruction head) per absent modality.
    assert est.module_.missing_tokens.shape == (len(targets), 16)
    recon = est.reconstruct(X)
    assert list(recon) == targets and recon[targets[0]].shape == (len(y), 10)


def test_reconstruction_learns_the_missing_view(views):
    X, y = views
    est = small(["MEAN", "WORST"], max_epochs=30, recon_weight=1.0).fit(X, y)
    recon = est.reconstruct(X)["SE"]
    mae = np.abs(recon - X.filter(like="SE__").to_numpy()).mean()
    mae_of_mean = np.abs(X.filter(like="SE__").to_numpy()).mean()  # predicting the mean (0)
    assert mae < 0.75 * mae_of_mean
    assert est.history_[-1]["train_mae"] < 0.7 * est.history_[0]["train_mae"]


@pytest.mark.parametrize("interaction", ["channel", "sdpa"])
def test_any_subset_model(views, interaction):
    X, y = views
    # Training rows with different views missing (never all).
    Xm = blank(blank(X, "SE", rows=slice(0, 40)), "WORST", rows=slice(40, 70))
    est = small(None, interaction=interaction, max_epochs=10).fit(Xm, y)
    assert est.input_modalities_ == list(VIEWS) == est.target_modalities_
    assert est.score(X, y) > 0.85
    for view in VIEWS:
        assert est.score(blank(X, view), y) > 0.8
    assert est.score(blank(X, "SE", "WORST"), y) > 0.8
    with pytest.raises(ValueError, match="no modality at all"):
        est.predict(blank(X, *VIEWS, rows=slice(3, 4)))


def test_any_subset_ignores_absent_blocks_and_cls_reads_missing_tokens():
    torch.manual_seed(0)
    net = MMT([4, 5, 6], 3, None, d_model=8, head_dims=(8,)).eval()
    x = torch.randn(7, 15)
    avail = torch.tensor([[True, False, True]] * 7)
    out, _ = net(x, avail)
    x2 = x.clone()
    x2[:, 4:9] = 100.0  # the absent block's values must not matter
    out2, _ = net(x2, avail)
    torch.testing.assert_close(out, out2)
    x3 = x.clone()
    x3[:, :4] += 1.0  # a present block does
    assert (net(x3, avail)[0] - out).abs().max() > 1e-4
    # CLS (last row) reads the missing tokens only; nobody reads CLS.
    vis = net.visible
    assert vis[-1].tolist() == [False] * 3 + [True] * 3 + [False]
    assert not vis[:, -1].any()
    fixed = MMT([4, 5, 6], 2, [0, 2], d_model=8)
    assert fixed.visible[-1].tolist() == [False, False, True, False]


def test_pipeline_cross_val_and_grid_search(views):
    from radfuse.selection import make_radiomics_pipeline

    X, y = load_breast_cancer_views()
    pipe = make_radiomics_pipeline(small(["MEAN", "SE"]), sampler=None, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.mean() > 0.88

    Xs, ys = views
    search = GridSearchCV(small(["MEAN"], max_epochs=4), {"lr": [1e-4, 1e-2]}, cv=2)
    search.fit(Xs.iloc[:120], ys.iloc[:120])
    assert search.best_params_["lr"] == 1e-2
    assert search.cv_results_["mean_test_score"].shape == (2,)


def test_joblib_round_trip(views, tmp_path):
    X, y = views
    est = small(None, interaction="sdpa", max_epochs=3).fit(X, y)
    path = tmp_path / "mmt.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert loaded.device_ == torch.device("cpu")
    assert loaded.history_ == est.history_


def test_plain_array_single_block(views):
    X, y = views
    est = small(None, max_epochs=5).fit(X.to_numpy(), y.to_numpy())
    assert est.layout_.names == ("X",) and est.score(X.to_numpy(), y) > 0.85


def test_bad_inputs(views):
    X, y = views
    with pytest.raises(ValueError, match=r"names \['T2'\], which X does not have"):
        small(["MEAN", "T2"]).fit(X, y)
    with pytest.raises(ValueError, match=r"patient .* lacks 'SE'.*input_modalities=None"):
        small(["MEAN", "SE"]).fit(blank(X, "SE", rows=slice(5, 7)), y)
    est = small(["MEAN", "SE"], max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=rf"prediction row: patient {X.index[0]!r} lacks 'MEAN'"):
        est.predict(blank(X, "MEAN", rows=slice(0, 1)))
    with pytest.raises(ValueError, match=r"target modality 'WORST' is missing .* in every"):
        small(["MEAN", "SE"]).fit(blank(X, "WORST"), y)
    with pytest.raises(ValueError, match="lists every modality"):
        small(list(VIEWS)).fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        small(["MEAN"]).fit(X, np.ones(len(y)))
    with pytest.raises(ValueError, match="'interaction' parameter of MMTClassifier must be a str"):
        small(interaction="cross").fit(X, y)
    with pytest.raises(ValueError, match="recon_weight names"):
        small(["MEAN"], recon_weight={"MEAN": 1.0}).fit(X, y)
    Xs = pd.concat([X, X.iloc[:, :1].rename(columns=lambda c: "CLIN__age")], axis=1)
    with pytest.raises(ValueError, match="no modality at all"):
        small().fit(blank(Xs, *VIEWS, "CLIN", rows=slice(0, 1)), y)


def test_recon_weight_per_modality(views):
    X, y = views
    est = small(["MEAN"], recon_weight={"SE": 2.0}, max_epochs=2).fit(X, y)
    assert est._recon_weight_ == [2.0, 0.0]
