import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from radfuse.datasets import (
    load_breast_cancer_views,
    make_multimodal_classification,
    simulate_missing_modalities,
)
from radfuse.modality import ModalityLayout, presence_mask


def test_breast_cancer_views_blocks_and_values():
    X, y = load_breast_cancer_views()
    assert X.shape == (569, 30) and X.index.name == "patient_id"
    layout = ModalityLayout.from_feature_names(X.columns, require_blocks=True)
    assert layout.names == ("MEAN", "SE", "WORST") and layout.sizes == (10, 10, 10)
    raw = load_breast_cancer(as_frame=True)
    np.testing.assert_array_equal(X["MEAN__radius"], raw.data["mean radius"])
    np.testing.assert_array_equal(X["SE__concave_points"], raw.data["concave points error"])
    np.testing.assert_array_equal(
        X["WORST__fractal_dimension"], raw.data["worst fractal dimension"]
    )
    np.testing.assert_array_equal(y.to_numpy(), raw.target.to_numpy())
    assert y.value_counts().to_dict() == {0: 212, 1: 357}  # 0 malignant, 1 benign
    assert (X.index == y.index).all()


def test_multimodal_classification_shapes_determinism_balance():
    mods = {"T1WI": 12, "FLAIR": 8, "DWI": 5}
    X, y = make_multimodal_classification(
        200, mods, n_informative=4, weights=(0.3, 0.7), random_state=3
    )
    assert X.shape == (200, 25)
    assert ModalityLayout.from_feature_names(X.columns).sizes == (12, 8, 5)
    assert y.value_counts().to_dict() == {1: 140, 0: 60}
    assert not X.isna().any().any()
    X2, y2 = make_multimodal_classification(
        200, mods, n_informative=4, weights=(0.3, 0.7), random_state=3
    )
    pd.testing.assert_frame_equal(X, X2)
    pd.testing.assert_series_equal(y, y2)
    X3, _ = make_multimodal_classification(
        200, mods, n_informative=4, weights=(0.3, 0.7), random_state=4
    )
    assert not np.allclose(X.to_numpy(), X3.to_numpy())


def _cross_block_r2(shared_fraction):
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import cross_val_predict

    X, _ = make_multimodal_classification(
        600,
        {"A": 8, "B": 8},
        n_informative=8,
        shared_fraction=shared_fraction,
        noise=0.2,
        random_state=0,
    )
    a, b = X.filter(like="A__").to_numpy(), X.filter(like="B__").to_numpy()
    pred = cross_val_predict(RidgeCV(), a, b, cv=3)
    return 1 - ((b - pred) ** 2).sum() / ((b - b.mean(0)) ** 2).sum()


def test_shared_latent_makes_blocks_recoverable():
    # a block is predictable from another in proportion to the shared fraction
    r2_high, r2_none = _cross_block_r2(0.9), _cross_block_r2(0.0)
    assert r2_high > 0.6
    assert r2_none < 0.05


def test_multimodal_classification_is_learnable_but_not_trivial():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    X, y = make_multimodal_classification(random_state=0)
    auc = cross_val_score(LogisticRegression(max_iter=2000), X, y, scoring="roc_auc").mean()
    assert 0.75 < auc < 0.99


def test_simulate_missing_rate_never_blanks_a_row():
    X, _ = make_multimodal_classification(500, random_state=1)
    Xm = simulate_missing_modalities(X, rate=0.3, random_state=0)
    pm = presence_mask(Xm)
    assert pm.to_numpy().any(axis=1).all()
    # about 30 % of blocks blanked (rows that would lose all blocks keep one)
    assert 0.25 < 1 - pm.to_numpy().mean() < 0.33
    # present blocks are untouched, absent ones entirely NaN
    for mod in pm.columns:
        block = Xm.filter(like=f"{mod}__")
        assert block[~pm[mod]].isna().all().all()
        pd.testing.assert_frame_equal(block[pm[mod]], X.filter(like=f"{mod}__")[pm[mod]])
    pd.testing.assert_frame_equal(Xm, simulate_missing_modalities(X, rate=0.3, random_state=0))
    # extreme rate: still one block per row
    assert (
        presence_mask(simulate_missing_modalities(X, rate=1.0, random_state=0))
        .sum(axis=1)
        .eq(1)
        .all()
    )


def test_simulate_missing_patterns_and_existing_gaps():
    X, _ = make_multimodal_classification(400, random_state=2)
    pats = {("T1WI", "FLAIR", "DWI"): 0.5, ("T1WI", "FLAIR"): 0.25, ("DWI",): 0.25}
    Xm = simulate_missing_modalities(X, patterns=pats, random_state=0)
    seen = presence_mask(Xm).apply(tuple, axis=1).value_counts(normalize=True)
    assert set(seen.index) == {(True, True, True), (True, True, False), (False, False, True)}
    assert abs(seen[(True, True, True)] - 0.5) < 0.08
    # a second pass over an already-missing table never empties a row
    Xmm = simulate_missing_modalities(Xm, patterns=[("T1WI",)], random_state=0)
    assert presence_mask(Xmm).to_numpy().any(axis=1).all()


def test_simulate_missing_bad_input():
    X, _ = make_multimodal_classification(50, random_state=0)
    with pytest.raises(ValueError, match="exactly one"):
        simulate_missing_modalities(X)
    with pytest.raises(ValueError, match="unknown modalities"):
        simulate_missing_modalities(X, patterns=[("CT",)])
    with pytest.raises(ValueError, match="single modality block"):
        simulate_missing_modalities(X.filter(like="DWI__"), rate=0.5)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        simulate_missing_modalities(X, rate=1.5)


def test_multimodal_bad_input():
    with pytest.raises(ValueError, match="at least one feature"):
        make_multimodal_classification(10, {"A": 0})
    with pytest.raises(ValueError, match="shared_fraction"):
        make_multimodal_classification(10, shared_fraction=2)
    with pytest.raises(ValueError, match="weights"):
        make_multimodal_classification(10, weights=(1, 2, 3))
