"""radfuse.tuning: PopulationSearchCV (batched Optuna search) and its distributions."""

from __future__ import annotations

import pickle
import warnings

import joblib
import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from radfuse.estimator_checks import expected_failed_checks
from radfuse.tuning import PopulationSearchCV, check_param_distributions, to_distribution
from radfuse.tuning.batch import fit_and_score_batch

C = "logisticregression__C"
WEIGHT = "logisticregression__class_weight"
SPACE = {C: {"low": 1e-4, "high": 1e2, "log": True}}
SPACE2 = {**SPACE, WEIGHT: {"choices": [None, "balanced"]}}


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


def pipeline():
    return make_pipeline(StandardScaler(), LogisticRegression(solver="liblinear"))


def search(space=SPACE, **kwargs):
    kwargs = {"n_trials": 6, "cv": 3, "random_state": 0, **kwargs}
    return PopulationSearchCV(pipeline(), space, **kwargs)


class LoudFit(ClassifierMixin, BaseEstimator):
    """Fails any test that fits it: bad input must be rejected before any fit."""

    def __init__(self, C=1.0, kind="a"):
        self.C = C
        self.kind = kind

    def fit(self, X, y):
        raise AssertionError("fit ran although the search's input was bad")


def test_best_score_is_the_cross_val_score_of_the_best_params(data):
    X, y = data
    fitted = search(SPACE2, scoring="roc_auc", batch_size=4).fit(X, y)
    assert fitted.n_trials_ == 6 == len(fitted.study_.trials)
    assert fitted.n_splits_ == 3
    again = cross_val_score(
        pipeline().set_params(**fitted.best_params_), X, y, cv=StratifiedKFold(3), scoring="roc_auc"
    )
    assert abs(fitted.best_score_ - again.mean()) < 1e-12
    results = fitted.cv_results_
    assert fitted.best_params_ == results["params"][fitted.best_index_]
    assert results["rank_test_score"][fitted.best_index_] == 1
    assert fitted.best_score_ == np.max(results["mean_test_score"])
    for key in ("mean_fit_time", "std_test_score", f"param_{C}", f"param_{WEIGHT}"):
        assert len(results[key]) == 6
    splits = np.column_stack([results[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(splits.mean(axis=1), results["mean_test_score"])
    # The study holds every trial's parameters and told value.
    for trial, params, mean in zip(
        fitted.study_.trials, results["params"], results["mean_test_score"]
    ):
        assert trial.params == params
        assert trial.value == mean
        assert 1e-4 <= params[C] <= 1e2
    # Refit on all the data, delegated like GridSearchCV.
    best = fitted.best_estimator_
    np.testing.assert_array_equal(fitted.predict(X), best.predict(X))
    np.testing.assert_array_equal(fitted.predict_proba(X), best.predict_proba(X))
    np.testing.assert_array_equal(fitted.decision_function(X), best.decision_function(X))
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    assert fitted.score(X, y) == fitted.scorer_(best, X, y)
    assert fitted.n_features_in_ == 30
    assert is_classifier(fitted)


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_fixed_random_state_gives_the_same_search(data, sampler):
    X, y = data
    first = search(SPACE2, sampler=sampler, refit=False).fit(X, y)
    second = search(SPACE2, sampler=sampler, refit=False).fit(X, y)
    for k in range(3):
        key = f"split{k}_test_score"
        np.testing.assert_array_equal(first.cv_results_[key], second.cv_results_[key])
    assert first.best_params_ == second.best_params_
    assert first.cv_results_["params"] == second.cv_results_["params"]
    assert first.param_importances_ == second.param_importances_
    other = search(SPACE2, sampler=sampler, refit=False, random_state=1).fit(X, y)
    assert other.cv_results_["params"] != first.cv_results_["params"]


def test_parallel_fits_give_the_sequential_results(data):
    X, y = data
    sequential = search(SPACE2, n_trials=4, refit=False).fit(X, y)
    with joblib.parallel_config(backend="threading"):  # threads: no process start-up in tests
        parallel = search(SPACE2, n_trials=4, refit=False, n_jobs=2).fit(X, y)
    assert parallel.cv_results_["params"] == sequential.cv_results_["params"]
    np.testing.assert_array_equal(
        parallel.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"]
    )


def test_param_importances_name_every_searched_parameter(data):
    X, y = data
    space = {**SPACE2, "logisticregression__fit_intercept": [True, False]}
    fitted = search(space, n_trials=8, refit=False).fit(X, y)
    assert set(fitted.param_importances_) == set(space)
    values = np.array(list(fitted.param_importances_.values()))
    assert np.all(values >= 0) and abs(values.sum() - 1) < 1e-9
    single = search(n_trials=4, refit=False).fit(X, y)
    assert single.param_importances_ == {C: 1.0}


def test_param_importances_fall_back_to_nan_with_a_warning(data):
    X, y = data
    with pytest.warns(UserWarning, match=r"importances of logisticregression__C cannot be"):
        fitted = search(n_trials=1, refit=False).fit(X, y)
    assert np.isnan(fitted.param_importances_[C])


def test_nested_cross_validation_and_groups(data):
    X, y = data
    outer = cross_val_score(search(n_trials=3), X, y, cv=3)
    assert outer.shape == (3,) and np.all((outer > 0.9) & (outer <= 1))
    # groups reach the inner splitter (GroupKFold refuses to split without them).
    groups = np.arange(len(y)) % 5
    fitted = search(n_trials=2, cv=GroupKFold(5), refit=False).fit(X, y, groups=groups)
    assert fitted.n_splits_ == 5
    with pytest.raises(ValueError, match="groups"):
        search(n_trials=2, cv=GroupKFold(5)).fit(X, y)


def test_fit_params_are_indexed_per_fold(data):
    X, y = data
    plain = search(n_trials=2, refit=False).fit(X, y)
    weighted = search(n_trials=2, refit=False).fit(
        X, y, logisticregression__sample_weight=np.ones(len(y))
    )
    np.testing.assert_allclose(
        weighted.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )


def test_a_dataframe_reaches_the_estimator_as_given(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=load_breast_cancer().feature_names)
    fitted = search(n_trials=2).fit(frame, y)
    assert list(fitted.best_estimator_.feature_names_in_) == list(frame.columns)


def test_failed_fits_score_error_score_with_a_warning(data):
    X, y = data
    space = {C: {"choices": [-1.0, 1.0]}}
    with (
        pytest.warns(FitFailedWarning, match=r"3 of 3 fits failed .*'logisticregression__C': -1.0"),
        pytest.warns(UserWarning, match="zero total variance"),  # one C value completed
    ):
        fitted = search(space, sampler="random", n_trials=4, refit=False).fit(X, y)
    failed = [p[C] == -1.0 for p in fitted.cv_results_["params"]]
    assert any(failed) and not all(failed)
    means = fitted.cv_results_["mean_test_score"]
    assert np.all(np.isnan(means[failed])) and np.all(np.isfinite(means[~np.array(failed)]))
    assert fitted.best_params_ == {C: 1.0}
    states = {t.state for t in fitted.study_.trials}
    assert states == {optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE}
    with pytest.raises(ValueError, match="'C' parameter of LogisticRegression"):
        search({C: {"choices": [-1.0]}}, n_trials=2, error_score="raise").fit(X, y)
    with pytest.warns(FitFailedWarning), pytest.raises(ValueError, match="all 6 fits failed"):
        search({C: {"choices": [-1.0]}}, n_trials=2).fit(X, y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"param_distributions": {"C": {"low": 1, "hi": 2}}}, r"\['C'\]: unknown key\(s\) 'hi'"),
        ({"param_distributions": {"C": {"low": 2.0, "high": 1.0}}}, r"\['C'\]: low=2.0 is greater"),
        (
            {"param_distributions": {"C": {"low": 0.0, "high": 1.0, "log": True}}},
            r"\['C'\].*low > 0",
        ),
        ({"param_distributions": {"kind": {"choices": []}}}, r"\['kind'\]: 'choices' is empty"),
        ({"param_distributions": {"kind": []}}, r"\['kind'\]: 'choices' is empty"),
        (
            {"param_distributions": {"c": {"low": 1, "high": 2}}},
            r"\['c'\]: LoudFit has no parameter 'c'",
        ),
        ({"param_distributions": {"C": {"low": "1e-4", "high": 1.0}}}, r"\['C'\].*write 1.0e-4"),
        ({"param_distributions": {"C": {"low": 1.0}}}, r"\['C'\]: missing 'high'"),
        ({"param_distributions": {"C": (1, 2)}}, r"\['C'\]: expected an Optuna distribution"),
        ({"param_distributions": {}}, "param_distributions is empty"),
        ({"n_trials": 0}, "'n_trials' parameter"),
        ({"sampler": "grid"}, "'sampler' parameter"),
        ({"batch_size": 0}, "'batch_size' parameter"),
    ],
)
def test_bad_input_is_rejected_before_any_fit(data, kwargs, match):
    X, y = data
    params = {"param_distributions": {"C": {"low": 1.0, "high": 2.0}}, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        PopulationSearchCV(LoudFit(), **params).fit(X, y)


def test_distribution_dicts_convert_to_optuna():
    assert to_distribution("k", {"low": 1, "high": 9})[0] == IntDistribution(1, 9)
    assert to_distribution("k", {"low": 2, "high": 8, "step": 2})[0] == IntDistribution(
        2, 8, step=2
    )
    assert to_distribution("k", {"low": 1, "high": 64, "log": True})[0] == IntDistribution(
        1, 64, log=True
    )
    assert to_distribution("lr", {"low": 1e-4, "high": 1e-1, "log": True})[0] == (
        FloatDistribution(1e-4, 1e-1, log=True)
    )
    assert to_distribution("p", {"low": 0, "high": 1.0, "step": 0.25})[0] == FloatDistribution(
        0.0, 1.0, step=0.25
    )
    given = CategoricalDistribution(["a", "b"])
    assert to_distribution("x", given) == (given, None)
    with pytest.raises(ValueError, match=r"\['k'\]: log=True needs low > 0, got low=0"):
        to_distribution("k", {"low": 0, "high": 4, "log": True})
    with pytest.raises(ValueError, match=r"\['k'\]: give 'log' or 'step'"):
        to_distribution("k", {"low": 1, "high": 4, "log": True, "step": 1})
    with pytest.raises(ValueError, match=r"\['k'\]: 'choices' cannot be combined with 'low'"):
        to_distribution("k", {"choices": [1], "low": 1})


def test_choices_optuna_cannot_store_are_searched_by_label():
    space = check_param_distributions({"head_dims": {"choices": [[64], (128, 64)]}, "n": [1, 2]})
    assert space.distributions["head_dims"] == CategoricalDistribution(["[64]", "(128, 64)"])
    assert space.distributions["n"] == CategoricalDistribution([1, 2])
    params = space.decode({"head_dims": "(128, 64)", "n": 2})
    assert params == {"head_dims": (128, 64), "n": 2}
    first, second = (
        space.decode({"head_dims": "[64]", "n": 1}),
        space.decode({"head_dims": "[64]", "n": 1}),
    )
    assert first["head_dims"] == [64] and first["head_dims"] is not second["head_dims"]


def test_estimator_choices_are_cloned_into_each_candidate(data):
    X, y = data
    space = {"logisticregression": [LogisticRegression(C=0.01), LogisticRegression(C=1.0)]}
    fitted = search(space, n_trials=3).fit(X, y)
    assert fitted.study_.trials[0].params["logisticregression"] in {
        "LogisticRegression(C=0.01)",
        "LogisticRegression()",
    }
    for choice in space["logisticregression"]:
        assert not hasattr(choice, "coef_")


def test_clone_pickle_and_refit_false(data):
    X, y = data
    unfitted = search(SPACE2, sampler=optuna.samplers.RandomSampler(seed=3))
    twin = clone(unfitted)
    assert twin.get_params(deep=False).keys() == unfitted.get_params(deep=False).keys()
    assert twin.param_distributions == unfitted.param_distributions
    fitted = unfitted.fit(X, y)
    # fit copies a sampler object, so a second fit of the clone proposes the same trials.
    assert twin.fit(X, y).cv_results_["params"] == fitted.cv_results_["params"]
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert len(loaded.study_.trials) == 6
    no_refit = search(n_trials=2, refit=False).fit(X, y)
    assert not hasattr(no_refit, "best_estimator_") and not hasattr(no_refit, "predict")
    with pytest.raises(AttributeError, match="refit=False"):
        no_refit.classes_


def test_fit_and_score_batch_keeps_task_order(data):
    X, y = data
    folds = list(StratifiedKFold(3).split(X, y))
    tasks = [(pipeline().set_params(**{C: c}), tr, te) for c in (0.01, 1.0) for tr, te in folds]
    results = fit_and_score_batch(tasks, X, y, scorer=lambda e, X_, y_: e.score(X_, y_))
    expected = [cross_val_score(pipeline().set_params(**{C: c}), X, y, cv=folds) for c in (0.01, 1)]
    np.testing.assert_array_equal([r["test_score"] for r in results], np.concatenate(expected))
    assert all(r["error"] is None and r["fit_time"] > 0 for r in results)


@pytest.mark.slow
@parametrize_with_checks(
    [
        PopulationSearchCV(
            LogisticRegression(),
            {"C": {"low": 0.01, "high": 10.0, "log": True}},
            n_trials=1,  # one trial: no fANOVA forest per check (its NaN warning is ignored)
            cv=2,
            random_state=0,
        )
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)
        warnings.filterwarnings("ignore", "PopulationSearchCV: parameter importances")
        check(estimator)
