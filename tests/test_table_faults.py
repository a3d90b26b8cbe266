"""Bad feature tables are named: patient, modality, column and value (one shared check)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from radfuse import make_radiomics_pipeline
from radfuse.modality import ModalityLayout
from radfuse.modality.validation import check_feature_table, check_numeric
from radfuse.selection import BlockChecker, ModalityWiseSelector
from radfuse.selection.smote import PatternAwareSMOTE


def _table(n=12, seed=0):
    rng = np.random.default_rng(seed)
    cols = ["T1__a", "T1__b", "T2__a", "T2__b"]
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=cols, index=[f"p{i}" for i in range(n)])
    y = np.array([0, 1] * (n // 2))
    return X, y


def _layout(X):
    return ModalityLayout.from_feature_names(X.columns)


def test_inf_names_patient_and_column():
    X, _ = _table()
    X.loc["p4", "T2__b"] = np.inf
    with pytest.raises(ValueError, match=r"'p4'.*'T2__b'"):
        check_feature_table(X, _layout(X), context="Net")
    with pytest.raises(ValueError, match=r"BlockChecker.*inf.*'p4'.*'T2__b'"):
        BlockChecker().fit(X)


def test_all_nan_column_names_the_column():
    X, y = _table()
    X.loc[["p0", "p1"], ["T2__a", "T2__b"]] = np.nan  # a missing modality is fine
    X["T1__b"] = np.nan
    for fit in (BlockChecker().fit, BlockChecker(impute="median").fit):
        with pytest.raises(ValueError, match=r"column\(s\) 'T1__b' of modality 'T1'"):
            fit(X)
    with pytest.raises(ValueError, match=r"'T1__b'"):
        make_radiomics_pipeline(LogisticRegression()).fit(X, y)


def test_row_without_any_modality_rejected_at_fit_and_predict():
    X, y = _table()
    bad = X.copy()
    bad.loc["p3"] = np.nan
    pipe = make_radiomics_pipeline(LogisticRegression(), k=1)
    with pytest.raises(ValueError, match=r"BlockChecker: patients 'p3' have no modality at all"):
        pipe.fit(bad, y)
    pipe.fit(X, y)
    with pytest.raises(ValueError, match=r"patients 'p3' have no modality at all"):
        pipe.predict_proba(bad)
    with pytest.raises(ValueError, match=r"'p3' have no modality"):
        ModalityWiseSelector(k=1).fit(bad, y)


def test_smote_keeps_its_empty_pattern():
    X, y = _table(20)
    X.loc[["p0", "p2"]] = np.nan
    Xr, _ = PatternAwareSMOTE(random_state=0, k_neighbors=2).fit_resample(X, y[:20])
    assert len(Xr) >= len(X)


@pytest.mark.parametrize("value", ["abc", "1.2.3"])
def test_text_cell_names_column_patient_and_value(value):
    X, y = _table()
    X["T1__b"] = X["T1__b"].astype(object)
    X.loc["p5", "T1__b"] = value
    pattern = (
        rf"column 'T1__b' holds 1 cell\(s\) that are not numbers, first '{value}' for "
        r"patient 'p5'"
    )
    with pytest.raises(ValueError, match=pattern):
        BlockChecker().fit(X)
    with pytest.raises(ValueError, match=pattern):
        make_radiomics_pipeline(LogisticRegression()).fit(X, y)
    fitted = BlockChecker().fit(_table()[0])
    with pytest.raises(ValueError, match=pattern):
        fitted.transform(X)


def test_number_like_text_passes_unchanged():
    X, _ = _table()
    text = X.astype(str).astype(object)
    check_numeric(text, context="t")
    np.testing.assert_array_equal(BlockChecker().fit_transform(text), X.to_numpy())


@pytest.mark.parametrize("X", [pd.DataFrame(), pd.DataFrame(index=["p1", "p2"])])
def test_empty_frame(X):
    with pytest.raises(ValueError, match=r"BlockChecker: X is an empty table"):
        BlockChecker().fit(X)


def test_block_unseen_in_training_is_rejected():
    X, _ = _table()
    train = X.copy()
    train[["T2__a", "T2__b"]] = np.nan
    bc = BlockChecker().fit(train)
    assert bc.seen_modalities_.tolist() == [True, False]
    bc.transform(train)  # rows without it pass
    with pytest.raises(ValueError, match=r"patients 'p0', 'p1'.* modality 'T2', which no training"):
        bc.transform(X)
    with pytest.raises(ValueError, match=r"modality 'T2', which no training"):
        check_feature_table(X, _layout(X), context="Net", training_presence=[True, False])


def test_shared_check_returns_array_and_presence():
    X, _ = _table()
    X.loc["p2", ["T1__a", "T1__b"]] = np.nan
    A, present = check_feature_table(X, _layout(X), context="Net")
    assert A.dtype == float and present.shape == (12, 2)
    assert not present[2, 0] and present[2, 1]


@pytest.mark.parametrize("model", ["MMTClassifier", "MFNVAEClassifier", "GMENetClassifier"])
def test_torch_estimators_share_the_table_checks(model):
    import radfuse

    X, y = _table(n=24)
    est = getattr(radfuse, model)(max_epochs=1, device="cpu", random_state=0)
    inf = X.copy()
    inf.loc["p5", "T1__b"] = np.inf
    with pytest.raises(ValueError, match=rf"{model}.*inf.*'p5'.*'T1__b'"):
        est.fit(inf, y)
    text = X.astype(object)
    text.loc["p2", "T2__a"] = "abc"
    with pytest.raises(ValueError, match=r"'T2__a'.*'abc'.*'p2'"):
        est.fit(text, y)
    empty = X.copy()
    empty.loc["p1"] = np.nan
    with pytest.raises(ValueError, match=r"'p1' have no modality at all"):
        est.fit(empty, y)
    column = X.copy()
    column["T1__a"] = np.nan
    with pytest.raises(ValueError, match=r"column\(s\) 'T1__a' of modality 'T1'"):
        est.fit(column, y)
    with pytest.raises(ValueError, match=rf"{model}.*(empty|no rows|no columns)"):
        est.fit(pd.DataFrame(), [])


def test_mmt_refuses_a_block_it_never_trained_on():
    from radfuse import MMTClassifier

    X, y = _table(n=24)
    train = X.copy()
    train[["T2__a", "T2__b"]] = np.nan
    mmt = MMTClassifier(max_epochs=1, device="cpu", random_state=0).fit(train, y)
    assert mmt.seen_modalities_.tolist() == [True, False]
    assert mmt.predict_proba(train).shape == (24, 2)
    with pytest.raises(ValueError, match=r"'T2'.*no training row"):
        mmt.predict_proba(X)
