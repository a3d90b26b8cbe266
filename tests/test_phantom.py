"""Tests of the synthetic phantom image cohort (radfuse.datasets.phantom)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy.stats import mannwhitneyu, spearmanr

from radfuse.datasets import Centre
from radfuse.datasets.phantom import CLASS_NAMES, make_phantom_cohort
from radfuse.extraction.manifest import read_manifest

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


# --------------------------------------------------------------------------------------------------
# centres and missing sequences


def _array_digest(cohort):
    digest = hashlib.sha256()
    for row in cohort.manifest.itertuples():
        for rel in (row.image, row.mask):
            digest.update(sitk.GetArrayFromImage(_read(cohort.out_dir / rel)).tobytes())
    digest.update(cohort.manifest_path.read_bytes())
    return digest.hexdigest()


def test_default_cohort_is_unchanged(tmp_path):
    # Computed with the generator before centres and missing sequences existed (commit 3a98af4).
    cohort = make_phantom_cohort(tmp_path / "c", n_patients=3, random_state=3, **TINY)
    assert _array_digest(cohort) == (
        "53d4f8ebb42d554fc2fb965ba24846f29a6eca15f55700f6adf38ee50c886b64"
    )
    assert cohort.groups is None and cohort.centres is None
    assert "group" not in cohort.manifest.columns


def test_neutral_centre_gives_the_single_centre_images(tmp_path):
    plain = make_phantom_cohort(tmp_path / "a", n_patients=3, random_state=5, **TINY)
    one = make_phantom_cohort(tmp_path / "b", n_patients=3, random_state=5, centres=[{}], **TINY)
    assert one.manifest["group"].tolist() == ["C1"] * 9
    pd.testing.assert_frame_equal(one.manifest.drop(columns="group"), plain.manifest)
    for rel in plain.manifest["image"]:
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(_read(plain.out_dir / rel)),
            sitk.GetArrayFromImage(_read(one.out_dir / rel)),
        )
    assert one.centres == [
        Centre(
            "C1",
            spacing=(0.9, 0.9, 3.0),
            gain=dict.fromkeys(MODALITIES, 1.0),
            offset=dict.fromkeys(MODALITIES, 0.0),
        )
    ]


def test_centres_groups_geometry_and_determinism(tmp_path):
    kwargs = {"n_patients": 12, "weights": (6, 6), "centres": 3, "random_state": 2, **TINY}
    a = make_phantom_cohort(tmp_path / "a", **kwargs)
    b = make_phantom_cohort(tmp_path / "b", **kwargs)
    plain = make_phantom_cohort(tmp_path / "p", **{**kwargs, "centres": None})
    for rel in list(a.manifest["image"]) + list(a.manifest["mask"]) + ["manifest.csv"]:
        assert (a.out_dir / rel).read_bytes() == (b.out_dir / rel).read_bytes(), rel
    assert [c.name for c in a.centres] == ["C1", "C2", "C3"]
    assert a.centres == b.centres
    # the groups: a column of the manifest, a Series next to y, read back by read_manifest
    assert list(a.manifest.columns) == ["patient_id", "modality", "image", "mask", "label", "group"]
    assert a.groups.name == "group" and a.groups.index.equals(a.y.index)
    per_patient = a.manifest.groupby("patient_id")["group"].agg(["first", "nunique"])
    assert (per_patient["nunique"] == 1).all()
    assert per_patient["first"].to_dict() == a.groups.to_dict()
    wide = read_manifest(a.manifest_path)
    assert wide["group"].to_dict() == a.groups.to_dict()
    # stratified by class: each centre holds both classes, shares split within each class
    table = pd.crosstab(a.groups, a.y)
    assert (table > 0).all().all(), table
    # the patients' draws (latents, labels) are those of the single-centre cohort
    pd.testing.assert_frame_equal(a.latent, plain.latent)
    pd.testing.assert_series_equal(a.y, plain.y)
    # each centre's images have its spacing and keep the field of view in mm
    for row in a.manifest.itertuples():
        centre = a.centres[int(row.group[1:]) - 1]
        img = _read(a.out_dir / row.image)
        np.testing.assert_allclose(img.GetSpacing(), centre.spacing)
        fov = np.array(img.GetSize()) * np.array(img.GetSpacing())
        np.testing.assert_allclose(fov, np.array([16, 16, 8]) * [0.9, 0.9, 3.0], rtol=0.15)
        assert _geometry(img) == _geometry(_read(a.out_dir / row.mask))
    other = make_phantom_cohort(tmp_path / "o", **{**kwargs, "random_state": 3})
    assert other.centres != a.centres


def test_lesions_keep_their_physical_size_at_another_spacing(tmp_path):
    kwargs = {"n_patients": 8, "modalities": ("T1WI",), "random_state": 4, "progress": False}
    coarse = make_phantom_cohort(tmp_path / "a", centres=[{"spacing": (1.2, 1.2, 4.0)}], **kwargs)
    fine = make_phantom_cohort(tmp_path / "b", centres=[{"spacing": (0.7, 0.7, 2.0)}], **kwargs)

    def volumes(cohort):
        out = []
        for rel in cohort.manifest["mask"]:
            msk = _read(cohort.out_dir / rel)
            out.append(sitk.GetArrayFromImage(msk).sum() * np.prod(msk.GetSpacing()))
        return np.array(out)

    ratio = volumes(coarse) / volumes(fine)
    assert 0.7 < np.median(ratio) < 1.4, ratio


def test_missing_sequences_have_no_file_and_no_row(tmp_path):
    centres = [{"name": "A", "share": 1}, {"name": "B", "share": 1}]
    kwargs = {"n_patients": 12, "weights": (6, 6), "centres": centres, "random_state": 1, **TINY}
    missing = {"B": {"DWI": 0.5, "FLAIR": 0.3}}
    full = make_phantom_cohort(tmp_path / "full", **kwargs)
    gaps = make_phantom_cohort(tmp_path / "gaps", missing=missing, **kwargs)
    again = make_phantom_cohort(tmp_path / "again", missing=missing, **kwargs)
    pd.testing.assert_frame_equal(gaps.manifest, again.manifest)  # deterministic for a seed
    pd.testing.assert_series_equal(gaps.groups, full.groups)
    present = gaps.manifest.groupby(["patient_id", "modality"]).size().unstack().notna()
    present = present.reindex(index=gaps.y.index, columns=list(MODALITIES), fill_value=False)
    in_b = gaps.groups == "B"
    assert present[~in_b].all().all()  # centre A is complete
    assert (~present.loc[in_b, "DWI"]).sum() == 3  # round(0.5 * 6)
    assert (~present.loc[in_b, "FLAIR"]).sum() == 2  # round(0.3 * 6)
    assert present.loc[in_b, "T1WI"].all()
    assert present.any(axis=1).all()
    for pid, m in [(p, m) for p in gaps.y.index for m in MODALITIES]:
        exists = (gaps.out_dir / pid / f"{m}.nrrd").exists()
        assert exists == (gaps.out_dir / pid / f"{m}_mask.nrrd").exists() == present.loc[pid, m]
    # the sequences that are there are those of the complete cohort
    for rel in gaps.manifest["image"]:
        assert (gaps.out_dir / rel).read_bytes() == (full.out_dir / rel).read_bytes(), rel
    wide = read_manifest(gaps.manifest_path)
    assert wide["DWI__image"].isna().sum() == 3


def test_missing_never_takes_all_sequences(tmp_path):
    # 0.5 + 0.5 of two sequences: the most that can be missing, exactly one sequence each
    cohort = make_phantom_cohort(
        tmp_path / "c",
        n_patients=10,
        modalities=("T1WI", "DWI"),
        missing={"T1WI": 0.5, "DWI": 0.5},
        random_state=0,
        **TINY,
    )
    counts = cohort.manifest.groupby("patient_id").size()
    assert len(counts) == 10 and (counts == 1).all()
    assert cohort.manifest["modality"].value_counts().to_dict() == {"T1WI": 5, "DWI": 5}
    assert cohort.groups is None and "group" not in cohort.manifest.columns


def test_centre_effects_are_measurable_and_the_class_is_not_confounded(tmp_path):
    from radfuse import extract_cohort

    cohort = make_phantom_cohort(
        tmp_path / "c",
        n_patients=30,
        modalities=("T1WI", "DWI"),
        shape=(24, 24, 10),
        centres=3,
        random_state=0,
        progress=False,
    )
    groups, y = cohort.groups, cohort.y
    # labels are split by class within centres: the class proportions hardly differ between them
    proportions = y.groupby(groups).mean()
    assert proportions.max() - proportions.min() < 0.25, proportions

    def separation(values):
        values = pd.Series(values, index=groups.index, dtype=float)
        means = values.groupby(groups).mean()
        return (means.max() - means.min()) / np.sqrt(values.groupby(groups).var().mean())

    for m in ("T1WI", "DWI"):  # mean intensity inside the lesion
        inside = []
        for pid in groups.index:
            image = sitk.GetArrayFromImage(_read(cohort.out_dir / pid / f"{m}.nrrd"))
            mask = sitk.GetArrayFromImage(_read(cohort.out_dir / pid / f"{m}_mask.nrrd"))
            inside.append(image[mask > 0].mean())
        assert separation(inside) >= 0.5, m
    # PyRadiomics features of the z-scored images (gain and offset cancel there)
    X = extract_cohort(cohort.manifest_path, spec="mri_original", progress=False).features
    X = X.loc[groups.index]
    for m in ("T1WI", "DWI"):
        for feature in ("firstorder_Mean", "firstorder_Entropy", "glcm_Contrast"):
            column = f"{m}__original_{feature}"
            assert separation(X[column]) >= 0.5, column


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"centres": 0}, "centres must be at least 1"),
        ({"centres": True}, "centres must be None, a number"),
        ({"centres": "C1"}, "centres must be None, a number"),
        ({"centres": []}, "centres is empty"),
        ({"centres": [{"nme": "A"}]}, r"centres\[0\] has unknown key\(s\) \['nme'\]"),
        ({"centres": [3]}, r"centres\[0\] must be a Centre or a mapping"),
        ({"centres": [{"name": ""}]}, "non-empty string"),
        ({"centres": [{"name": "A"}, {"name": "A"}]}, r"\['A'\] more than once"),
        ({"centres": [{"share": 0}]}, "centre 'C1': share must be a finite number > 0"),
        ({"centres": [{"gain": -1}]}, r"gain\['T1WI'\] must be a finite number > 0"),
        ({"centres": [{"gain": {"PET": 2}}]}, r"gain names unknown modalities \['PET'\]"),
        ({"centres": [{"offset": float("nan")}]}, "offset.*finite number"),
        ({"centres": [{"noise": 0}]}, "noise must be a finite number > 0"),
        ({"centres": [{"psf_mm": -1}]}, "psf_mm must be a finite number >= 0"),
        ({"centres": [{"bias": -0.5}]}, "bias must be a finite number >= 0"),
        ({"centres": [{"spacing": (1, 1, 0)}]}, "spacing must be three positive numbers"),
        ({"centres": [{"spacing": (3, 3, 12)}]}, "centre 'C1': shape=.*too small for a lesion"),
        ({"missing": {"DWI": 1.0}}, r"must be in \[0, 1\)"),
        ({"missing": {"DWI": -0.1}}, r"missing\['DWI'\] must be a finite number >= 0"),
        ({"missing": {"PET": 0.1}}, r"unknown modalities \['PET'\]"),
        ({"missing": ["DWI"]}, "missing must be None, a mapping"),
        ({"missing": {"C1": {"DWI": 0.5}}}, "per centre .* but centres is None"),
        ({"centres": 2, "missing": {"C9": {"DWI": 0.5}}}, r"unknown centres \['C9'\]"),
        ({"centres": 2, "missing": {"C1": {"DWI": 0.5}, "FLAIR": 0.1}}, "mixes"),
        ({"modalities": ("T1WI",), "missing": {"T1WI": 0.5}}, "no sequence"),
        (
            {"missing": {"T1WI": 0.9, "FLAIR": 0.9, "DWI": 0.9}, "n_patients": 10},
            "must keep at least one sequence",
        ),
    ],
)
def test_bad_centres_and_missing(tmp_path, kwargs, match):
    args = {"n_patients": 2, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_phantom_cohort(tmp_path / "c", **args)
    assert not (tmp_path / "c").exists()
