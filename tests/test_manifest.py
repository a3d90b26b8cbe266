"""Manifests: wide and long forms, path resolution, manifest-level errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radfuse.extraction import ManifestError, read_manifest
from radfuse.extraction.manifest import iter_cases, manifest_modalities


@pytest.fixture
def folder(tmp_path):
    for pid in ["P1", "P2"]:
        (tmp_path / "img" / pid).mkdir(parents=True)
        for name in ["t1.nrrd", "t1_mask.nrrd", "fl.nrrd", "fl_mask.nrrd"]:
            (tmp_path / "img" / pid / name).write_bytes(b"x")
    return tmp_path


def test_long_csv_relative_paths_resolved_against_manifest_folder(folder, monkeypatch):
    (folder / "manifest.csv").write_text(
        "patient_id,modality,image,mask,label\n"
        "P1,T1WI,img/P1/t1.nrrd,img/P1/t1_mask.nrrd,1\n"
        "P1,FLAIR,img/P1/fl.nrrd,img/P1/fl_mask.nrrd,1\n"
        "P2,T1WI,img/P2/t1.nrrd,img/P2/t1_mask.nrrd,0\n"
    )
    monkeypatch.chdir("/")  # resolution must not depend on the working directory
    man = read_manifest(folder / "manifest.csv")
    assert man.index.name == "patient_id"
    assert list(man.index) == ["P1", "P2"]
    assert list(man.columns) == [
        "T1WI__image",
        "T1WI__mask",
        "FLAIR__image",
        "FLAIR__mask",
        "label",
    ]
    assert man.loc["P1", "T1WI__image"] == str(folder / "img/P1/t1.nrrd")
    assert pd.isna(man.loc["P2", "FLAIR__image"])  # modality absent for P2
    assert man.loc["P2", "label"] == "0"
    assert manifest_modalities(man) == ["T1WI", "FLAIR"]
    cases = list(iter_cases(man))
    assert [(c.patient_id, c.modality) for c in cases] == [
        ("P1", "T1WI"),
        ("P1", "FLAIR"),
        ("P2", "T1WI"),
    ]


def test_wide_frame_with_label_value_and_group(folder):
    df = pd.DataFrame(
        {
            "T1WI__image": [str(folder / "img/P1/t1.nrrd"), str(folder / "img/P2/t1.nrrd")],
            "T1WI__mask": [
                str(folder / "img/P1/t1_mask.nrrd"),
                str(folder / "img/P2/t1_mask.nrrd"),
            ],
            "T1WI__label_value": [2, np.nan],
            "group": ["A", "B"],
        },
        index=pd.Index(["P1", "P2"], name="patient_id"),
    )
    man = read_manifest(df)
    assert list(man["group"]) == ["A", "B"]
    cases = list(iter_cases(man))
    assert cases[0].label_value == 2 and cases[1].label_value is None


def test_long_and_wide_forms_agree(folder):
    long = pd.DataFrame(
        {
            "patient_id": ["P1", "P2"],
            "modality": ["T1WI", "T1WI"],
            "image": ["img/P1/t1.nrrd", "img/P2/t1.nrrd"],
            "mask": ["img/P1/t1_mask.nrrd", "img/P2/t1_mask.nrrd"],
        }
    )
    wide = pd.DataFrame(
        {"T1WI__image": long["image"].to_numpy(), "T1WI__mask": long["mask"].to_numpy()},
        index=pd.Index(["P1", "P2"], name="patient_id"),
    )
    pd.testing.assert_frame_equal(
        read_manifest(long, base_dir=folder), read_manifest(wide, base_dir=folder)
    )


def test_duplicate_patient_modality(folder):
    (folder / "m.csv").write_text(
        "patient_id,modality,image,mask\n"
        "P1,T1WI,img/P1/t1.nrrd,img/P1/t1_mask.nrrd\n"
        "P1,T1WI,img/P1/fl.nrrd,img/P1/fl_mask.nrrd\n"
    )
    with pytest.raises(ManifestError, match=r"duplicate \(patient, modality\).*'P1', 'T1WI'"):
        read_manifest(folder / "m.csv")


def test_duplicate_patient_in_wide_manifest(folder):
    (folder / "m.csv").write_text(
        "patient_id,T1WI__image,T1WI__mask\nP1,img/P1/t1.nrrd,img/P1/t1_mask.nrrd\n"
        "P1,img/P1/fl.nrrd,img/P1/fl_mask.nrrd\n"
    )
    with pytest.raises(ManifestError, match=r"duplicate patient_id.*P1"):
        read_manifest(folder / "m.csv")


@pytest.mark.parametrize("column", ["T1WI__imgae", "age", "T1WI__features"])
def test_unknown_column(folder, column):
    (folder / "m.csv").write_text(
        f"patient_id,T1WI__image,T1WI__mask,{column}\nP1,img/P1/t1.nrrd,img/P1/t1_mask.nrrd,3\n"
    )
    with pytest.raises(ManifestError, match=f"unknown column '{column}'"):
        read_manifest(folder / "m.csv")


def test_unknown_column_long(folder):
    (folder / "m.csv").write_text(
        "patient_id,modality,image,mask,sex\nP1,T1WI,img/P1/t1.nrrd,img/P1/t1_mask.nrrd,F\n"
    )
    with pytest.raises(ManifestError, match=r"unknown column\(s\) \['sex'\]"):
        read_manifest(folder / "m.csv")


def test_relative_path_that_does_not_resolve(folder):
    (folder / "m.csv").write_text(
        "patient_id,modality,image,mask\nP1,T1WI,scans/P1/t1.nrrd,img/P1/t1_mask.nrrd\n"
    )
    with pytest.raises(ManifestError, match=r"patient 'P1', modality 'T1WI', image.*does not"):
        read_manifest(folder / "m.csv")


def test_relative_path_in_frame_needs_base_dir():
    df = pd.DataFrame({"T1WI__image": ["a.nrrd"], "T1WI__mask": ["b.nrrd"]}, index=["P1"])
    with pytest.raises(ManifestError, match=r"relative path 'a\.nrrd'.*base_dir"):
        read_manifest(df)


def test_image_without_mask(folder):
    (folder / "m.csv").write_text("patient_id,modality,image,mask\nP1,T1WI,img/P1/t1.nrrd,\n")
    with pytest.raises(ManifestError, match="mask is missing while the other file is given"):
        read_manifest(folder / "m.csv")


def test_missing_file_in_existing_folder_is_left_to_extraction(folder):
    # the folder exists, so the path resolves; the missing file becomes a per-case error later
    (folder / "m.csv").write_text(
        "patient_id,modality,image,mask\nP1,T1WI,img/P1/gone.nrrd,img/P1/t1_mask.nrrd\n"
    )
    man = read_manifest(folder / "m.csv")
    assert man.loc["P1", "T1WI__image"].endswith("gone.nrrd")


def test_missing_manifest_file(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "nope.csv")
