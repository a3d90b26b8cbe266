import numpy as np
import pandas as pd
import pytest

from radfuse.modality import (
    ModalityLayout,
    check_blocks,
    format_name,
    infer_modalities,
    presence_mask,
    split_name,
)


def _table():
    cols = ["T1WI__a", "T1WI__b", "FLAIR__a", "DWI__x__y", "DWI__z"]
    X = pd.DataFrame(
        np.arange(15, dtype=float).reshape(3, 5),
        index=pd.Index(["P1", "P2", "P3"], name="patient_id"),
        columns=cols,
    )
    return X


def test_names_round_trip():
    for mod, feat in [("T1WI", "original_firstorder_Mean"), ("DWI", "a__b"), ("CLIN", "age")]:
        assert split_name(format_name(mod, feat)) == (mod, feat)
    assert split_name("T1WI__wavelet-LLH_glcm_Contrast") == ("T1WI", "wavelet-LLH_glcm_Contrast")


@pytest.mark.parametrize("bad", ["T1WI_a", "__a", "T1WI__", 3])
def test_split_name_rejects(bad):
    with pytest.raises(ValueError, match="MODALITY"):
        split_name(bad)


@pytest.mark.parametrize("mod", ["", "A__B"])
def test_format_name_rejects(mod):
    with pytest.raises(ValueError, match=r"must not contain|non-empty"):
        format_name(mod, "f")


def test_layout_from_names_order_and_indices():
    X = _table()
    layout = ModalityLayout.from_feature_names(X.columns)
    assert layout.names == ("T1WI", "FLAIR", "DWI")
    assert [list(i) for i in layout.indices] == [[0, 1], [2], [3, 4]]
    assert layout.sizes == (2, 1, 2)
    assert list(layout.feature_names_of("DWI")) == ["DWI__x__y", "DWI__z"]
    assert infer_modalities(X.columns) == ["T1WI", "FLAIR", "DWI"]
    np.testing.assert_array_equal(layout.block(X, "FLAIR").to_numpy().ravel(), [2.0, 7.0, 12.0])


def test_interleaved_columns_grouped_by_prefix():
    layout = ModalityLayout.from_feature_names(["A__1", "B__1", "A__2"])
    assert layout.names == ("A", "B")
    assert [list(i) for i in layout.indices] == [[0, 2], [1]]


def test_presence_mask_and_partial_block_named():
    X = _table()
    X.loc["P2", ["FLAIR__a"]] = np.nan
    X.loc["P3", ["T1WI__a", "T1WI__b"]] = np.nan
    pm = presence_mask(X)
    assert list(pm.columns) == ["T1WI", "FLAIR", "DWI"]
    np.testing.assert_array_equal(
        pm.to_numpy(), [[True, True, True], [True, False, True], [False, True, True]]
    )
    # present blocks pass the check
    np.testing.assert_array_equal(check_blocks(X).to_numpy(), pm.to_numpy())
    X.loc["P1", "DWI__z"] = np.nan  # one NaN inside a present block: a bad value
    with pytest.raises(ValueError, match=r"patient 'P1', modality 'DWI': 1 of 2 values NaN"):
        check_blocks(X)


def test_plain_array_is_one_block():
    layout = ModalityLayout.resolve(None, feature_names=None, n_features=4)
    assert layout.names == ("X",) and layout.sizes == (4,)
    A = np.ones((2, 4))
    A[1] = np.nan
    np.testing.assert_array_equal(layout.presence_mask(A), [[True], [False]])
    # unprefixed names (none has "__") are also one block when blocks are not required
    assert ModalityLayout.from_feature_names(["a", "b"]).names == ("X",)


def test_unprefixed_names_rejected_when_blocks_required_or_mixed():
    with pytest.raises(ValueError, match=r"'age', 'sex' have no modality prefix"):
        ModalityLayout.from_feature_names(["T1WI__a", "age", "sex"])
    with pytest.raises(ValueError, match="no modality prefix"):
        ModalityLayout.from_feature_names(["a", "b"], require_blocks=True)


def test_duplicate_columns_rejected():
    with pytest.raises(ValueError, match=r"Duplicate column names \['T1WI__a'\]"):
        ModalityLayout.from_feature_names(["T1WI__a", "T1WI__a"])


def test_mapping_layout_and_errors():
    names = ["a", "b", "c", "d"]
    layout = ModalityLayout.from_mapping({"M1": ["a", "c"], "M2": [1, 3]}, feature_names=names)
    assert layout.names == ("M1", "M2")
    assert [list(i) for i in layout.indices] == [[0, 2], [1, 3]]
    with pytest.raises(ValueError, match=r"columns that do not exist: 'zz'"):
        ModalityLayout.from_mapping({"M1": ["a", "zz"], "M2": ["b", "c", "d"]}, feature_names=names)
    with pytest.raises(ValueError, match=r"Blocks overlap: column 'c' is in both 'M1' and 'M2'"):
        ModalityLayout.from_mapping({"M1": ["a", "c"], "M2": ["b", "c", "d"]}, feature_names=names)
    with pytest.raises(ValueError, match=r"leaves columns 'd' outside every block"):
        ModalityLayout.from_mapping({"M1": ["a", "c"], "M2": ["b"]}, feature_names=names)
    with pytest.raises(ValueError, match=r"integer positions in \[0, 4\)"):
        ModalityLayout.from_mapping({"M1": [0, 7]}, n_features=4)


def test_resolve_with_list_of_modalities():
    X = _table()
    layout = ModalityLayout.resolve(["DWI", "T1WI", "FLAIR"], feature_names=X.columns, n_features=5)
    assert layout.names == ("DWI", "T1WI", "FLAIR")
    assert list(layout.index("DWI")) == [3, 4]
    with pytest.raises(ValueError, match=r"names \['CT'\] that are not in X"):
        ModalityLayout.resolve(["CT", "T1WI"], feature_names=X.columns, n_features=5)
    with pytest.raises(ValueError, match=r"X has modalities \['DWI'\] that modalities="):
        ModalityLayout.resolve(["T1WI", "FLAIR"], feature_names=X.columns, n_features=5)
    with pytest.raises(ValueError, match="no column names"):
        ModalityLayout.resolve(["T1WI"], feature_names=None, n_features=5)
    with pytest.raises(ValueError, match="Unknown modality 'CT'"):
        layout.index("CT")
