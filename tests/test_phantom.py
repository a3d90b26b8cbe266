"""Tests of the synthetic phantom image cohort (radfuse.datasets.phantom)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy.stats import mannwhitneyu, spearmanr

from radfuse.datasets.phantom import CLASS_NAMES, make_phantom_cohort

MODALITIES = ("T1WI", "FLAIR", "DWI")
TINY = {"shape": (16, 16, 8), "progress": False}  # smallest sensible volume: fast tests


def _read(path):
    return sitk.ReadImage(str(path))


def _geometry(img):
    return img.GetSize(), img.GetSpacing(), img.GetOrigin(), img.GetDirection()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """60 balanced patients at the default volume size: enough to see the class signal."""
    out = tmp_path_factory.mktemp("phantom") / "cohort"
    return make_phantom_cohort(out, n_patients=60, weights=(30, 30), random_state=0, progress=False)


@pytest.fixture(scope="module")
def arrays(cohort):
    """(patient_id, modality) -> (image array, mask array, image, mask) for the whole cohort."""
    out = {}
    for row in cohort.manifest.itertuples():
        img = _read(cohort.out_dir / row.image)
        msk = _read(cohort.out_dir / row.mask)
        out[row.patient_id, row.modality] = (
            sitk.GetArrayFromImage(img),
            sitk.GetArrayFromImage(msk),
            img,
            msk,
        )
    return out


def test_manifest_and_files(cohort):
    man = pd.read_csv(cohort.manifest_path)
    assert cohort.manifest_path == cohort.out_dir / "manifest.csv"
    assert list(man.columns) == ["patient_id", "modality", "image", "mask", "label"]
    assert len(man) == 60 * 3
    assert all(tuple(group) == MODALITIES for _, group in man.groupby("patient_id")["modality"])
    assert man["patient_id"].nunique() == 60
    for row in man.itertuples():
        # paths are relative to out_dir and point at existing NRRD files
        assert not row.image.startswith("/") and not row.mask.startswith("/")
        assert (cohort.out_dir / row.image).is_file()
        assert (cohort.out_dir / row.mask).is_file()
        assert row.image.endswith(".nrrd") and row.mask.endswith(".nrrd")
    # the returned manifest is the written one, and labels agree with y
    pd.testing.assert_frame_equal(
        man.astype({"patient_id": str, "modality": str, "image": str, "mask": str}),
        cohort.manifest.astype({"patient_id": str, "modality": str, "image": str, "mask": str}),
    )
    per_patient = man.groupby("patient_id")["label"].agg(["min", "max"])
    assert (per_patient["min"] == per_patient["max"]).all()
    assert per_patient["min"].to_dict() == cohort.y.to_dict()
    assert cohort.y.index.name == "patient_id"
    assert cohort.target_names == ["SCLC", "NSCLC"] == [CLASS_NAMES[0], CLASS_NAMES[1]]
    assert list(cohort.latent.index) == list(cohort.y.index)
    assert {"cellularity", "heterogeneity", "necrosis", "size"} <= set(cohort.latent.columns)


def test_geometry_types_and_masks(cohort, arrays):
    for pid in cohort.y.index:
        reference = None
        first_mask = None
        for m in MODALITIES:
            image, mask, img, msk = arrays[pid, m]
            # image and mask of a pair share the full geometry
            assert _geometry(img) == _geometry(msk), (pid, m)
            assert img.GetSize() == (48, 48, 16)
            np.testing.assert_allclose(img.GetSpacing(), (0.9, 0.9, 3.0))
            assert img.GetPixelID() == sitk.sitkInt16
            assert msk.GetPixelID() == sitk.sitkUInt8
            assert set(np.unique(mask)) == {0, 1}
            assert mask.sum() >= 40
            assert image.min() >= 0 and image.std() > 0
            # all of a patient's images share geometry, and the lesion mask is the same
            if reference is None:
                reference, first_mask = _geometry(img), mask
            assert _geometry(img) == reference, (pid, m)
            np.testing.assert_array_equal(mask, first_mask)
            # the lesion keeps off the border of the volume
            assert not mask[[0, -1]].any() and not mask[:, [0, -1]].any()
            assert not mask[:, :, [0, -1]].any()
    # lesions vary in size and position between patients
    volumes = [arrays[pid, "T1WI"][1].sum() for pid in cohort.y.index]
    assert max(volumes) > 3 * min(volumes)
    centres = {
        tuple(np.round(np.argwhere(arrays[pid, "T1WI"][1]).mean(axis=0)).astype(int))
        for pid in cohort.y.index
    }
    assert len(centres) > 50


def test_modalities_have_their_own_intensity_scale(cohort, arrays):
    medians = {
        m: np.median([np.median(arrays[pid, m][0]) for pid in cohort.y.index]) for m in MODALITIES
    }
    # T1WI brightest background, DWI (b=1000-like) an order of magnitude darker
    assert medians["T1WI"] > medians["FLAIR"] > 3 * medians["DWI"]


def _lesion_cv(arrays, pids, modality):
    values = []
    for pid in pids:
        image, mask = arrays[pid, modality][:2]
        inside = image[mask > 0].astype(float)
        values.append(inside.std() / inside.mean())
    return np.array(values)


def test_class_signal_and_cross_modality_correlation(cohort, arrays):
    pids = list(cohort.y.index)
    y = cohort.y.to_numpy()
    assert np.bincount(y).tolist() == [30, 30]
    cv = {m: _lesion_cv(arrays, pids, m) for m in MODALITIES}
    # the lesion's coefficient of variation is higher in NSCLC (more heterogeneous, necrotic) ...
    p_values = {m: mannwhitneyu(cv[m][y == 1], cv[m][y == 0]).pvalue for m in MODALITIES}
    assert min(p_values.values()) < 0.01, p_values
    higher = [m for m in MODALITIES if np.median(cv[m][y == 1]) > np.median(cv[m][y == 0])]
    assert len(higher) >= 2, higher
    # ... and correlated across a patient's modalities (a shared latent drives all of them)
    rhos = {
        (a, b): spearmanr(cv[a], cv[b]).statistic
        for a, b in [("T1WI", "FLAIR"), ("T1WI", "DWI"), ("FLAIR", "DWI")]
    }
    assert min(rhos.values()) > 0.1, rhos
    assert np.mean(list(rhos.values())) > 0.25, rhos
    assert spearmanr(cv["T1WI"], cv["FLAIR"]).pvalue < 0.01, rhos


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a = make_phantom_cohort(tmp_path / "a", n_patients=3, random_state=7, **TINY)
    b = make_phantom_cohort(tmp_path / "b", n_patients=3, random_state=7, **TINY)
    c = make_phantom_cohort(tmp_path / "c", n_patients=3, random_state=8, **TINY)
    for rel in list(a.manifest["image"]) + list(a.manifest["mask"]) + ["manifest.csv"]:
        assert (a.out_dir / rel).read_bytes() == (b.out_dir / rel).read_bytes(), rel
    pd.testing.assert_frame_equal(a.latent, b.latent)
    for rel in a.manifest["image"]:
        first = sitk.GetArrayFromImage(_read(a.out_dir / rel))
        other = sitk.GetArrayFromImage(_read(c.out_dir / rel))
        assert not np.array_equal(first, other), rel


@pytest.mark.parametrize(
    ("n_patients", "weights", "expected"),
    [
        (10, (3, 7), [3, 7]),  # counts that sum to n_patients are exact
        (28, (100, 179), [10, 18]),  # the reference proportions scaled down
        (5, (0.5, 0.5), [3, 2]),  # proportions, largest remainder
        (4, (0, 1), [0, 4]),
    ],
)
def test_class_counts(tmp_path, n_patients, weights, expected):
    cohort = make_phantom_cohort(
        tmp_path / "c", n_patients=n_patients, weights=weights, modalities=("T1WI",), **TINY
    )
    assert np.bincount(cohort.y, minlength=2).tolist() == expected
    assert len(cohort.manifest) == n_patients


def test_other_modality_names_and_geometry_options(tmp_path):
    cohort = make_phantom_cohort(
        tmp_path / "c",
        n_patients=2,
        modalities=("ADC", "PET_like"),
        shape=(20, 24, 10),
        spacing=(1.0, 0.8, 2.5),
        progress=False,
    )
    assert cohort.manifest["modality"].tolist() == ["ADC", "PET_like"] * 2
    for row in cohort.manifest.itertuples():
        img = _read(cohort.out_dir / row.image)
        assert img.GetSize() == (20, 24, 10)
        np.testing.assert_allclose(img.GetSpacing(), (1.0, 0.8, 2.5))
        assert sitk.GetArrayFromImage(img).std() > 0


def test_progress_bar_can_be_switched(tmp_path, capsys):
    make_phantom_cohort(tmp_path / "on", n_patients=2, shape=(16, 16, 8), progress=True)
    assert "phantom cohort" in capsys.readouterr().err
    make_phantom_cohort(tmp_path / "off", n_patients=2, shape=(16, 16, 8), progress=False)
    assert capsys.readouterr().err == ""


def test_existing_folder_needs_overwrite(tmp_path):
    out = tmp_path / "c"
    make_phantom_cohort(out, n_patients=4, **TINY)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not empty.*overwrite=True"):
        make_phantom_cohort(out, n_patients=2, **TINY)
    again = make_phantom_cohort(out, n_patients=2, overwrite=True, **TINY)
    assert len(again.manifest) == 2 * 3
    assert not (out / "P003").exists() and not (out / "P004").exists()
    assert (out / "notes.txt").read_text() == "mine"  # files that are not the phantom's stay
    assert pd.read_csv(out / "manifest.csv")["patient_id"].unique().tolist() == ["P001", "P002"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_patients": 0}, "n_patients must be a positive integer"),
        ({"n_patients": -3}, "n_patients must be a positive integer"),
        ({"n_patients": 2.5}, "n_patients must be a positive integer"),
        ({"n_patients": True}, "n_patients must be a positive integer"),
        ({"weights": (1, 2, 3)}, "two numbers"),
        ({"weights": (-1, 2)}, "non-negative"),
        ({"weights": (0, 0)}, "not all zero"),
        ({"weights": ("a", "b")}, "two non-negative numbers"),
        ({"modalities": "T1WI"}, "sequence of names"),
        ({"modalities": ()}, "modalities is empty"),
        ({"modalities": ("T1WI", "T1WI")}, r"\['T1WI'\] more than once"),
        ({"modalities": ("T1WI__x",)}, "must not contain '__'"),
        ({"modalities": ("T1WI", 3)}, "non-empty string"),
        ({"shape": (48, 48)}, "shape must be three positive integers"),
        ({"shape": (48, 0, 16)}, "shape must be three positive integers"),
        ({"shape": (48, 48, 16.5)}, "shape must be three positive integers"),
        ({"shape": (13, 48, 16)}, r"too small for a lesion.*at least \(14, 14, 8\)"),
        ({"shape": (48, 48, 7)}, "too small for a lesion"),
        ({"spacing": (0.9, 0.9, -3)}, "spacing must be three positive numbers"),
        ({"random_state": "seed"}, "random_state must be"),
        ({"overwrite": "yes"}, "overwrite must be True or False"),
    ],
)
def test_bad_input(tmp_path, kwargs, match):
    args = {"n_patients": 2, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_phantom_cohort(tmp_path / "c", **args)
    assert not (tmp_path / "c").exists()  # nothing is written before the arguments are checked


def test_out_dir_that_is_a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        make_phantom_cohort(path, n_patients=1, progress=False)


def test_pyradiomics_extracts_a_phantom_case(cohort):
    radiomics = pytest.importorskip("radiomics")
    from radiomics import featureextractor

    radiomics.setVerbosity(40)
    extractor = featureextractor.RadiomicsFeatureExtractor(
        normalize=True, normalizeScale=100, binWidth=10, label=1
    )
    extractor.disableAllFeatures()
    for name in ("shape", "firstorder", "glcm", "glszm"):
        extractor.enableFeatureClassByName(name)
    row = cohort.manifest.iloc[1]
    image, mask = cohort.out_dir / row["image"], cohort.out_dir / row["mask"]
    features = extractor.execute(str(image), str(mask))
    values = {k: float(v) for k, v in features.items() if k.startswith("original_")}
    assert len(values) > 60
    assert all(np.isfinite(v) for v in values.values())
    n_voxels = int(sitk.GetArrayFromImage(_read(mask)).sum())
    assert values["original_shape_VoxelVolume"] == pytest.approx(n_voxels * 0.9 * 0.9 * 3.0)
    assert values["original_firstorder_Variance"] > 0
