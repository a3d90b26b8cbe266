"""SurMoESurvival: discrimination, scikit-survival conventions, missing blocks, errors, tooling.

scikit-learn's ``parametrize_with_checks`` is not run: its checks build classification or
regression ``y`` (a 1-D array of labels or floats), which a survival estimator rejects, as
scikit-survival's own estimators do (scikit-survival does not run them either). The checks that
do not fit (parameters, ``clone``) run here, and ``clone``, ``get_params``, pickling,
``cross_val_score``, ``GridSearchCV`` and the IPCW scorer are tested on fitted models.
"""

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)
from sksurv.functions import StepFunction
from sksurv.metrics import (
    as_concordance_index_ipcw_scorer,
    concordance_index_censored,
    concordance_index_ipcw,
)
from sksurv.util import Surv

from radfuse.estimators.surmoe import SurMoESurvival, resolve_token_groups
from radfuse.modality import ModalityLayout
from radfuse.nn.survival import time_bins

torch.set_num_threads(1)


def make_survival(n=240, seed=0, censor_scale=2.0):
    """Two blocks (CT: 6 columns, MR: 5); the hazard depends on two columns of each."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 6)), rng.normal(size=(n, 5))
    lin = 0.9 * a[:, 0] - 0.7 * a[:, 1] + 0.8 * b[:, 0] + 0.6 * b[:, 2]
    t = rng.exponential(np.exp(-lin))
    c = rng.exponential(censor_scale * np.median(t), n)
    cols = [f"CT__a{i}" for i in range(6)] + [f"MR__b{i}" for i in range(5)]
    X = pd.DataFrame(np.hstack([a, b]), columns=cols, index=[f"P{i}" for i in range(n)])
    return X, Surv.from_arrays(t <= c, np.minimum(t, c))


def small(**kw):
    params = dict(d_model=16, n_heads=2, max_epochs=25, lr=3e-3, device="cpu", random_state=0)
    params.update(kw)
    return SurMoESurvival(**params)


@pytest.fixture(scope="module")
def data():
    X, y = make_survival(300)
    return X.iloc[:220], y[:220], X.iloc[220:], y[220:]


@pytest.fixture(scope="module")
def fitted(data):
    Xtr, ytr, _, _ = data
    return small().fit(Xtr, ytr)


def cindex(y, risk):
    return concordance_index_censored(y["event"], y["time"], risk)[0]


def test_discriminates_on_training_and_held_out_rows(data, fitted):
    Xtr, ytr, Xte, yte = data
    assert fitted.score(Xtr, ytr) > 0.7
    assert fitted.score(Xte, yte) > 0.65
    assert fitted.n_iter_ == len(fitted.history_) <= 25
    assert {"train_nll", "valid_loss", "valid_score"} <= set(fitted.history_[0])


def test_score_is_harrells_c_of_predict(data, fitted):
    _, _, Xte, yte = data
    assert fitted.score(Xte, yte) == pytest.approx(cindex(yte, fitted.predict(Xte)), abs=0)


def test_bins_and_time_grid_come_from_the_training_rows(data, fitted):
    _, ytr, Xte, _ = data
    np.testing.assert_array_equal(fitted.bin_edges_, time_bins(ytr["time"], ytr["event"], 4))
    np.testing.assert_array_equal(fitted.unique_times_, np.unique(ytr["time"]))
    np.testing.assert_array_equal(fitted.event_times_, np.unique(ytr["time"][ytr["event"]]))
    assert fitted.predict_bin_survival(Xte).shape == (len(Xte), 4)


def test_survival_function_as_scikit_survival_returns_it(data, fitted):
    _, _, Xte, _ = data
    fns = fitted.predict_survival_function(Xte.iloc[:5])
    arr = fitted.predict_survival_function(Xte.iloc[:5], return_array=True)
    assert fns.shape == (5,) and all(isinstance(f, StepFunction) for f in fns)
    assert arr.shape == (5, len(fitted.unique_times_))
    np.testing.assert_array_equal(fns[0].x, fitted.unique_times_)
    np.testing.assert_allclose(fns[2](fitted.unique_times_), arr[2])
    assert np.all((arr > 0) & (arr < 1)) and np.all(np.diff(arr, axis=1) <= 0)
    # Constant within a bin: the value at a training time is S of the bin holding it.
    bins = fitted.predict_bin_survival(Xte.iloc[:5])
    edges = fitted.bin_edges_
    first_bin = fitted.unique_times_ <= edges[1]
    np.testing.assert_allclose(arr[:, first_bin], np.repeat(bins[:, :1], first_bin.sum(), 1))
    np.testing.assert_allclose(arr[:, -1], bins[:, -1])
    # The risk is -sum of the bin survival.
    np.testing.assert_allclose(fitted.predict(Xte.iloc[:5]), -bins.sum(1), rtol=1e-12)
    chf = fitted.predict_cumulative_hazard_function(Xte.iloc[:5], return_array=True)
    np.testing.assert_allclose(chf, -np.log(arr))


def test_missing_blocks_in_training_and_prediction(data):
    Xtr, ytr, Xte, yte = data
    Xtr, Xte = Xtr.copy(), Xte.copy()
    mr = [c for c in Xtr.columns if c.startswith("MR__")]
    rng = np.random.default_rng(1)
    Xtr.loc[rng.random(len(Xtr)) < 0.3, mr] = np.nan
    gone = rng.random(len(Xte)) < 0.3
    Xte.loc[gone, mr] = np.nan
    model = small().fit(Xtr, ytr)
    risk = model.predict(Xte)
    assert np.all(np.isfinite(risk))
    assert model.score(Xte, yte) > 0.6
    # A row without MR depends only on its CT block.
    X2 = Xte.copy()
    X2.loc[gone, mr] = np.nan
    X2.iloc[np.flatnonzero(~gone)[:3], 0] += 1.0
    np.testing.assert_array_equal(model.predict(X2)[gone], risk[gone])


def test_zero_weight_rows_are_as_if_left_out(data):
    Xtr, ytr, Xte, _ = data
    sw = np.ones(len(Xtr))
    sw[::7] = 0
    keep = sw > 0
    a = small(max_epochs=3).fit(Xtr, ytr, sample_weight=sw)
    b = small(max_epochs=3).fit(Xtr[keep], ytr[keep])
    np.testing.assert_array_equal(a.bin_edges_, b.bin_edges_)
    np.testing.assert_array_equal(a.unique_times_, b.unique_times_)
    np.testing.assert_allclose(a.predict(Xte), b.predict(Xte), rtol=1e-6)


def test_integer_events_and_reproducibility(data):
    Xtr, ytr, Xte, _ = data
    y01 = np.empty(len(ytr), dtype=[("status", "i8"), ("days", "f8")])
    y01["status"], y01["days"] = ytr["event"], ytr["time"]
    a = small(max_epochs=3).fit(Xtr, ytr)
    b = small(max_epochs=3).fit(Xtr, y01)
    np.testing.assert_array_equal(a.predict(Xte), b.predict(Xte))


def test_clone_pickle_and_parameter_checks(data, fitted, tmp_path):
    _, _, Xte, _ = data
    est = SurMoESurvival(token_groups={"CT": [["CT__a0"]]}, top_k=2)
    assert clone(est).get_params() == est.get_params()
    check_parameters_default_constructible("SurMoESurvival", SurMoESurvival())
    check_no_attributes_set_in_init("SurMoESurvival", SurMoESurvival())
    check_get_params_invariance("SurMoESurvival", SurMoESurvival())
    check_set_params("SurMoESurvival", SurMoESurvival())
    joblib.dump(fitted, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(again.predict(Xte), fitted.predict(Xte))
    assert not hasattr(clone(fitted), "module_")
    assert fitted.__sklearn_tags__().target_tags.required


def test_cross_val_score_grid_search_and_ipcw_scorer(data):
    Xtr, ytr, Xte, yte = data
    cv = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(small(max_epochs=8), Xtr, ytr, cv=cv)
    assert scores.shape == (3,) and np.all(scores > 0.55)
    grid = GridSearchCV(small(max_epochs=4), {"n_bins": [2, 4]}, cv=cv).fit(Xtr, ytr)
    assert grid.best_params_["n_bins"] in (2, 4) and 0.5 < grid.score(Xte, yte) <= 1
    tau = np.quantile(ytr["time"], 0.8)
    ipcw = as_concordance_index_ipcw_scorer(small(), tau=tau).fit(Xtr, ytr)
    expected = concordance_index_ipcw(ytr, yte, ipcw.estimator_.predict(Xte), tau=tau)[0]
    assert ipcw.score(Xte, yte) == pytest.approx(expected, abs=0) and expected > 0.6
    assert ipcw.predict_survival_function(Xte).shape == (len(Xte),)


def radiomics_layout():
    cols = [
        "T1__original_firstorder_Mean",
        "T1__original_glcm_Contrast",
        "T1__wavelet-LLH_firstorder_Mean",
        "T1__log-sigma-1-0-mm-3D_glcm_Contrast",
        "T2__original_shape_Elongation",
        "T2__original_firstorder_Mean",
    ]
    return ModalityLayout.from_feature_names(cols)


def test_token_groups_family_class_chunks_mapping():
    layout = radiomics_layout()
    assert resolve_token_groups("family", layout) == [[[0, 1], [2], [3]], [[0, 1]]]
    assert resolve_token_groups("class", layout) == [[[0, 2], [1, 3]], [[0], [1]]]
    assert resolve_token_groups(None, layout) == resolve_token_groups("class", layout)
    assert resolve_token_groups(3, layout) == [[[0, 1, 2], [3]], [[0, 1]]]
    mapping = {
        "T1": [["T1__original_firstorder_Mean", "T1__original_glcm_Contrast"],
               ["T1__wavelet-LLH_firstorder_Mean", "T1__log-sigma-1-0-mm-3D_glcm_Contrast"]],
        "T2": [["T2__original_shape_Elongation", "T2__original_firstorder_Mean"]],
    }  # fmt: skip
    assert resolve_token_groups(mapping, layout) == [[[0, 1], [2, 3]], [[0, 1]]]
    clinical = ModalityLayout.from_feature_names(
        [f"CLIN__c{i}" for i in range(20)] + ["LAB__serum_creatinine_level"]
    )
    # None on non-radiomics blocks: at most 8 chunks of consecutive columns.
    groups = resolve_token_groups(None, clinical)
    assert [len(g) for g in groups] == [7, 1] and groups[0][0] == [0, 1, 2]


@pytest.mark.parametrize(
    "mapping, match",
    [
        ({"T1": [["T1__original_firstorder_Mean"]]}, "no groups for modalities"),
        ({"T3": [["x"]], "T1": [], "T2": []}, "T3"),
        ({"T1": [["T2__original_firstorder_Mean"]], "T2": [[]]}, "not in block 'T1'"),
        ({"T1": [["T1__original_firstorder_Mean"]], "T2": [["T2__original_firstorder_Mean"]]},
         "in no group"),
    ],
)  # fmt: skip
def test_token_groups_mapping_errors(mapping, match):
    with pytest.raises(ValueError, match=match):
        resolve_token_groups(mapping, radiomics_layout())


def test_class_groups_need_radiomics_names(data):
    Xtr, ytr, _, _ = data
    with pytest.raises(ValueError, match="'CT__a0' is not a radiomics feature name"):
        small(token_groups="class").fit(Xtr, ytr)


def bad_y(y, **change):
    out = y.copy()
    for field, (row, value) in change.items():
        out[field][row] = value
    return out


@pytest.mark.parametrize(
    "make_y, match",
    [
        (lambda y: bad_y(y, time=(3, -1.0)), r"finite and >= 0; row 3 has -1.0"),
        (lambda y: bad_y(y, time=(5, np.nan)), r"row 5 has nan"),
        (lambda y: Surv.from_arrays(np.zeros(len(y), bool), y["time"]), "every training row"),
        (lambda y: y["time"], "structured array with two fields"),
        (lambda y: y[:-1], "y has 219"),
    ],
)
def test_bad_targets(data, make_y, match):
    Xtr, ytr, _, _ = data
    with pytest.raises(ValueError, match=match):
        small(max_epochs=1).fit(Xtr, make_y(ytr))


def test_event_indicator_must_be_0_1(data):
    Xtr, ytr, _, _ = data
    y = np.empty(len(ytr), dtype=[("event", "i8"), ("time", "f8")])
    y["event"], y["time"] = ytr["event"], ytr["time"]
    y["event"][4] = 2
    with pytest.raises(ValueError, match=r"bool or 0/1; row 4 has 2"):
        small(max_epochs=1).fit(Xtr, y)
    with pytest.raises(ValueError, match="bool or 0/1"):
        small(max_epochs=1).fit(Xtr, ytr).score(Xtr, y)


def test_one_block_and_parameter_errors(data):
    Xtr, ytr, _, _ = data
    with pytest.raises(ValueError, match="at least 2 blocks"):
        small(max_epochs=1).fit(Xtr.to_numpy(), ytr)
    with pytest.raises(ValueError, match="n_heads=3 must divide d_model=16"):
        small(n_heads=3).fit(Xtr, ytr)
    with pytest.raises(ValueError, match="top_k"):
        small(top_k=5).fit(Xtr, ytr)
    with pytest.raises(ValueError, match="n_bins=4"):
        # Every event at the same time: the quartile cut points coincide.
        small(max_epochs=1).fit(Xtr, Surv.from_arrays(ytr["event"], np.ones(len(ytr))))
    # A plain array split by modalities= fits.
    cols = {"A": list(range(6)), "B": list(range(6, 11))}
    model = small(max_epochs=2, modalities=cols).fit(Xtr.to_numpy(), ytr)
    assert model.layout_.names == ("A", "B")
