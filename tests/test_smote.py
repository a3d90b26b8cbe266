"""PatternAwareSMOTE: Borderline-SMOTE within missing-modality patterns."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import BorderlineSMOTE
from imblearn.pipeline import make_pipeline
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from radfuse.datasets import (
    make_multimodal_classification,
    simulate_missing_modalities,
)
from radfuse.modality import ModalityLayout
from radfuse.selection import PatternAwareSMOTE, allocate_synthetic


@pytest.fixture(scope="module")
def missing_table():
    """279 patients, three 12-feature modalities, 30 % of blocks missing, 100 vs 179."""
    X, y = make_multimodal_classification(
        n_samples=279,
        modalities={"T1WI": 12, "FLAIR": 12, "DWI": 12},
        weights=[100 / 279, 179 / 279],
        random_state=0,
    )
    return simulate_missing_modalities(X, rate=0.3, random_state=1), y


# -- equality with BorderlineSMOTE on complete data --------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"kind": "borderline-2"},
        {"sampling_strategy": 0.8, "k_neighbors": 3, "m_neighbors": 7},
    ],
)
def test_equals_borderline_smote_on_complete_data(views, params):
    X, y = views
    ours_X, ours_y = PatternAwareSMOTE(random_state=42, **params).fit_resample(X, y)
    ref_X, ref_y = BorderlineSMOTE(random_state=42, **params).fit_resample(X, y)
    np.testing.assert_array_equal(ours_X.to_numpy(), ref_X.to_numpy())
    np.testing.assert_array_equal(ours_y.to_numpy(), ref_y.to_numpy())
    assert list(ours_X.columns) == list(X.columns)


def test_equals_borderline_smote_multiclass_arrays():
    X, y = make_classification(
        n_samples=400, n_classes=3, n_informative=4, weights=[0.2, 0.3, 0.5], random_state=0
    )
    for seed in (0, np.random.RandomState(3)):
        ours = PatternAwareSMOTE(random_state=seed).fit_resample(X, y)
        seed2 = np.random.RandomState(3) if not isinstance(seed, int) else seed
        ref = BorderlineSMOTE(random_state=seed2).fit_resample(X, y)
        np.testing.assert_array_equal(ours[0], ref[0])
        np.testing.assert_array_equal(ours[1], ref[1])


def test_equals_borderline_smote_on_integer_features():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 100, (80, 4))
    y = np.r_[np.zeros(60, int), np.ones(20, int)]
    ours = PatternAwareSMOTE(random_state=0).fit_resample(X, y)
    ref = BorderlineSMOTE(random_state=0).fit_resample(X, y)
    assert ours[0].dtype == ref[0].dtype == X.dtype
    np.testing.assert_array_equal(ours[0], ref[0])


# -- missing blocks ----------------------------------------------------------------------------
def _block_nan_pattern(X, layout):
    """Per row and block: 'present', 'absent' or 'partial'."""
    A = np.asarray(X, dtype=float)
    nan = np.column_stack([np.isnan(A[:, idx]).mean(axis=1) for idx in layout.indices])
    return np.where(nan == 0, "present", np.where(nan == 1, "absent", "partial"))


@pytest.mark.parametrize("strategy", ["auto", 0.75, {0: 150}])
def test_missing_blocks_stay_missing_and_counts_are_met(missing_table, strategy):
    X, y = missing_table
    layout = ModalityLayout.from_feature_names(X.columns)
    presence = layout.presence_mask(X)
    assert 0.25 < 1 - presence.mean() < 0.35
    sampler = PatternAwareSMOTE(sampling_strategy=strategy, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    # the original rows come first, unchanged
    pd.testing.assert_frame_equal(
        X_res.iloc[: len(X)].reset_index(drop=True), X.reset_index(drop=True)
    )
    counts = Counter(y_res.to_numpy().tolist())
    expected = {"auto": 179, 0.75: round(0.75 * 179), 150: 150}
    assert counts[1] == 179
    assert counts[0] == expected[strategy if not isinstance(strategy, dict) else 150]
    new = X_res.iloc[len(X) :]
    assert len(new) == counts[0] - 100
    status = _block_nan_pattern(new, layout)
    assert not (status == "partial").any()  # NaN exactly on whole blocks, none elsewhere
    new_presence = status == "present"
    train_patterns = {tuple(p) for p in presence[(y == 0).to_numpy()]}
    assert {tuple(p) for p in new_presence} <= train_patterns
    assert (new_presence.sum(axis=1) >= 1).all()
    # sampling_report_ accounts for every synthetic row, per pattern
    groups = pd.DataFrame(sampler.sampling_report_)
    assert groups["n_synthetic"].sum() == len(new)
    names = np.array(layout.names)
    got = Counter(tuple(names[p]) for p in new_presence)
    assert got == dict(zip(groups["pattern"], groups["n_synthetic"]))


def test_allocation_is_proportional_to_each_pattern_share(missing_table):
    X, y = missing_table
    sampler = PatternAwareSMOTE(random_state=0)
    sampler.fit_resample(X, y)
    groups = pd.DataFrame(sampler.sampling_report_)
    np.testing.assert_array_equal(
        groups["n_synthetic"], allocate_synthetic(79, groups["n_rows"].to_numpy())
    )
    share = groups["n_synthetic"] / 79 - groups["n_rows"] / 100
    assert share.abs().max() < 1 / 79 + 1e-12


def test_allocate_synthetic_largest_remainder():
    np.testing.assert_array_equal(allocate_synthetic(10, [1, 1, 1]), [4, 3, 3])
    # shares 3.5, 0, 1.75, 1.75: floors 3, 0, 1, 1; the two leftovers go to the .75 remainders
    np.testing.assert_array_equal(allocate_synthetic(7, [50, 0, 25, 25]), [3, 0, 2, 2])
    np.testing.assert_array_equal(allocate_synthetic(0, [3, 4]), [0, 0])
    rng = np.random.RandomState(0)
    for _ in range(20):
        counts = rng.randint(0, 30, size=6)
        n = int(rng.randint(0, 200))
        out = allocate_synthetic(n, counts)
        assert out.sum() == (n if counts.sum() else 0)
        assert (out[counts == 0] == 0).all()
        assert np.all(np.abs(out - n * counts / max(counts.sum(), 1)) < 1)


def test_synthetic_rows_are_one_interpolation_across_modalities(missing_table):
    """Each synthetic row is x_i + t (x_j - x_i) with ONE t for all its present columns,
    x_i and x_j minority rows of the same pattern."""
    X, y = missing_table
    A, yv = X.to_numpy(), y.to_numpy()
    X_res, _ = PatternAwareSMOTE(random_state=0).fit_resample(X, y)
    new = X_res.to_numpy()[len(X) :]
    minority = A[yv == 0]
    nan_min = np.isnan(minority)
    for s in new:
        cols = ~np.isnan(s)
        same = np.flatnonzero((nan_min == ~cols).all(axis=1))
        P = minority[np.ix_(same, cols)]
        found = False
        for i in range(len(P)):
            d = P - P[i]  # candidate directions
            step = s[cols] - P[i]
            norm = (d * d).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                t = (d @ step) / norm
            resid = np.abs(step - t[:, None] * d).max(axis=1)
            ok = (norm > 0) & (t >= -1e-12) & (t <= 1 + 1e-12) & (resid < 1e-9)
            if ok.any() or np.abs(step).max() < 1e-12:
                found = True
                break
        assert found, "synthetic row is not on a segment between two same-pattern rows"


# -- fallbacks ---------------------------------------------------------------------------------
def _tiny_groups_table():
    """A complete majority, and minority rows spread over patterns, some tiny."""
    rng = np.random.RandomState(0)
    cols = [f"{m}__f{j}" for m in ("A", "B") for j in range(3)]
    n_maj, n_min = 60, 24
    X = pd.DataFrame(rng.randn(n_maj + n_min, 6), columns=cols)
    X.iloc[n_maj:] += 1.0
    y = np.r_[np.zeros(n_maj, int), np.ones(n_min, int)]
    X.iloc[n_maj : n_maj + 3, 3:] = np.nan  # 3 minority rows with A only, no majority
    X.iloc[n_maj + 3, :3] = np.nan  # 1 minority row with B only
    X.iloc[:4, :3] = np.nan  # 4 majority rows with B only
    return X, y


def test_fallbacks_for_small_groups():
    X, y = _tiny_groups_table()
    sampler = PatternAwareSMOTE(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 60, 1: 60}
    groups = {g["pattern"]: g for g in sampler.sampling_report_}
    assert groups[("A", "B")]["method"] == "borderline-1"
    assert groups[("A", "B")]["k_neighbors"] == 5
    # only minority rows in the group: no row can be "in danger", so plain SMOTE, k lowered
    assert groups[("A",)]["method"] == "smote"
    assert groups[("A",)]["k_neighbors"] == 2
    # a single minority row: copies of it
    assert groups[("B",)]["method"] == "random"
    new = X_res.iloc[len(X) :]
    b_only = new[new.filter(like="A__").isna().all(axis=1)]
    assert len(b_only) == groups[("B",)]["n_synthetic"] >= 1
    np.testing.assert_array_equal(
        b_only.filter(like="B__").to_numpy(),
        np.repeat(X.iloc[[63]].filter(like="B__").to_numpy(), len(b_only), axis=0),
    )


def test_no_row_in_danger_still_meets_strategy():
    # two far-apart classes: Borderline-SMOTE finds no row in danger and adds nothing
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(40, 4), rng.randn(15, 4) + 20])
    y = np.r_[np.zeros(40, int), np.ones(15, int)]
    assert len(BorderlineSMOTE(random_state=0).fit_resample(X, y)[1]) == 55
    sampler = PatternAwareSMOTE(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 40, 1: 40}
    assert sampler.sampling_report_[0]["method"] == "smote"
    assert (X_res[55:] > 10).all()  # interpolated among the minority rows


def test_row_without_any_modality_is_copied():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 2)
    y = np.r_[np.zeros(35, int), np.ones(15, int)]
    X[45:] = np.nan  # a plain array is one block: these rows have no modality at all
    X_res, y_res = PatternAwareSMOTE(random_state=0).fit_resample(X, y)
    assert Counter(y_res.tolist()) == {0: 35, 1: 35}
    # 20 new minority rows: 13.3 for the 10 present rows, 6.7 (rounded to 7) for the 5 NaN rows
    assert np.isnan(X_res).all(axis=1).sum() == 5 + 7
    assert not np.isnan(X_res[:45]).any() and not np.isnan(X_res[50:63]).any()


# -- errors and integration --------------------------------------------------------------------
def test_bad_input_errors(missing_table):
    X, y = missing_table
    bad = X.copy()
    row = int(np.flatnonzero(bad.filter(like="FLAIR__").notna().all(axis=1))[0])
    bad.iloc[row, bad.columns.get_loc("FLAIR__f03")] = np.nan
    with pytest.raises(ValueError, match=rf"patient '{X.index[row]}', modality 'FLAIR'"):
        PatternAwareSMOTE().fit_resample(bad, y)
    inf = X.fillna(0.0)
    inf.iloc[2, 0] = np.inf
    with pytest.raises(ValueError, match=rf"infinite.*'{X.index[2]}'.*T1WI__f00"):
        PatternAwareSMOTE().fit_resample(inf, y)
    with pytest.raises(ValueError, match="needs to have more than 1 class"):
        PatternAwareSMOTE().fit_resample(X, np.zeros(len(X), int))
    with pytest.raises(TypeError, match="dense data is required"):
        from scipy import sparse

        PatternAwareSMOTE().fit_resample(sparse.csr_matrix(np.ones((10, 2))), [0] * 5 + [1] * 5)


def test_in_an_imblearn_pipeline_only_fit_is_resampled(missing_table):
    X, y = missing_table
    seen = {}

    class Spy(LogisticRegression):
        def fit(self, X, y):
            seen["fit"] = len(y)
            return super().fit(np.nan_to_num(X), y)

        def predict_proba(self, X):
            seen["predict"] = len(X)
            return super().predict_proba(np.nan_to_num(X))

    pipe = make_pipeline(PatternAwareSMOTE(random_state=0), Spy())
    pipe.fit(X, y)
    pipe.predict_proba(X)
    assert seen == {"fit": 2 * 179, "predict": 279}
