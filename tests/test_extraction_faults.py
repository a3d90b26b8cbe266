"""Extraction on hostile-but-realistic input: every fault named, nothing finished lost.

Unwritable folders are simulated with a path under a regular *file* (``afile/cache``), which
no user, root included, can create, or by making the write itself fail.
"""

from __future__ import annotations

import subprocess
import sys
import time
import types

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

import radfuse.extraction.case as case_mod
import radfuse.extraction.cohort as cohort
from radfuse.extraction import ManifestError, extract_cohort, load_spec, read_manifest
from radfuse.extraction.cache import FeatureCache
from radfuse.extraction.cli import run_extract

SPEC = "mri_original"
COLUMNS = ["patient_id", "modality", "image", "mask"]


def _write(path, arr, spacing=(1.0, 1.0, 2.0)):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing[: arr.ndim])
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A good 3-D case, a 2-D case and an image with one NaN voxel inside the mask."""
    root = tmp_path_factory.mktemp("faults")
    rng = np.random.default_rng(0)
    z, y, x = np.indices((8, 20, 20))
    blob = ((z - 4) / 3.0) ** 2 + ((y - 10) / 5.0) ** 2 + ((x - 9) / 6.0) ** 2 <= 1
    arr = (rng.normal(200, 30, blob.shape) + 80 * blob).astype(np.int16)
    nan = arr.astype(np.float32)
    nan[4, 10, 10] = np.nan
    return {
        "image": _write(root / "img.nrrd", arr),
        "mask": _write(root / "mask.nrrd", blob.astype(np.uint8)),
        "image2d": _write(root / "img2d.nrrd", arr[4]),
        "mask2d": _write(root / "mask2d.nrrd", blob[4].astype(np.uint8)),
        "nan": _write(root / "nan.nrrd", nan),
    }


@pytest.fixture
def good(files):
    return pd.DataFrame([["P1", "T1WI", files["image"], files["mask"]]], columns=COLUMNS)


@pytest.fixture(scope="module")
def good_run(files):
    frame = pd.DataFrame([["P1", "T1WI", files["image"], files["mask"]]], columns=COLUMNS)
    return extract_cohort(frame, SPEC, progress=False)


def _no_extraction(monkeypatch):
    calls = []
    monkeypatch.setattr(cohort, "run_case", lambda *a: calls.append(a))
    return calls


def _args(**kw):
    base = dict(spec=SPEC, n_jobs=1, cache=None, scheduler=None, no_progress=True)
    return types.SimpleNamespace(**{**base, **kw})


# ------------------------------------------------------------------------------------------------
# 1. cache folder; 2. output path
# ------------------------------------------------------------------------------------------------
def test_unwritable_cache_folder_raises_before_any_case(good, tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("a file, not a folder")
    cache = tmp_path / "afile" / "cache"
    calls = _no_extraction(monkeypatch)
    with pytest.raises(ValueError, match=r"cache_dir .*afile/cache.* cannot be written"):
        extract_cohort(good, SPEC, cache_dir=cache, progress=False)
    manifest = tmp_path / "m.csv"
    good.to_csv(manifest, index=False)
    out = tmp_path / "f.csv"
    assert run_extract(_args(manifest=str(manifest), out=str(out), cache=str(cache))) == 2
    assert "afile/cache" in capsys.readouterr().err
    assert calls == [] and not out.exists()


def test_cache_write_failure_warns_once_and_the_batch_goes_on(
    files, good_run, tmp_path, monkeypatch
):
    frame = pd.DataFrame(
        [[p, "T1WI", files["image"], files["mask"]] for p in ("P1", "P2")], columns=COLUMNS
    )

    def full_disk(self, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FeatureCache, "put", full_disk)
    with pytest.warns(RuntimeWarning, match="cache folder .*cache.*No space left") as record:
        res = extract_cohort(frame, SPEC, cache_dir=tmp_path / "cache", progress=False)
    assert sum("cache folder" in str(w.message) for w in record) == 1
    assert res.summary["n_done"] == 2 and len(res.errors) == 0
    np.testing.assert_array_equal(res.features.loc["P2"], good_run.features.loc["P1"])


@pytest.mark.parametrize("where", ["under_a_file", "a_folder"])
def test_unwritable_out_exits_2_before_extraction(good, tmp_path, monkeypatch, capsys, where):
    manifest = tmp_path / "m.csv"
    good.to_csv(manifest, index=False)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.csv").mkdir()
    out = tmp_path / "afile" / "feats.csv" if where == "under_a_file" else tmp_path / "adir.csv"
    calls = _no_extraction(monkeypatch)
    assert run_extract(_args(manifest=str(manifest), out=str(out))) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "nothing was extracted" in err
    assert calls == []


# ------------------------------------------------------------------------------------------------
# 3. ids and modalities pandas would read as missing; 7. no rows
# ------------------------------------------------------------------------------------------------
def test_na_like_ids_and_modality_are_text(files, tmp_path):
    ids = ["NA", "nan", "None", "null", "N/A"]
    rows = [[p, "T1WI", files["image"], files["mask"]] for p in ids]
    rows.append(["NA", "NA", files["image"], files["mask"]])  # a sodium MRI block
    manifest = tmp_path / "m.csv"
    pd.DataFrame(rows, columns=COLUMNS).to_csv(manifest, index=False)
    man = read_manifest(manifest)
    assert list(man.index) == ids and "NA__image" in man.columns
    assert man["NA__image"].isna().sum() == len(ids) - 1
    res = extract_cohort(manifest, SPEC, progress=False)
    assert len(res.errors) == 0 and list(res.features.index) == ids
    assert np.isfinite(res.features.loc["NA"]).all()
    assert res.features.filter(like="NA__").loc[ids[1:]].isna().all().all()


def test_empty_patient_id_names_the_line(files, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "patient_id,modality,image,mask\n"
        f"P1,T1WI,{files['image']},{files['mask']}\n"
        f",T1WI,{files['image']},{files['mask']}\n"
    )
    with pytest.raises(ManifestError, match=r"patient_id is empty on line\(s\) \[3\]"):
        read_manifest(manifest)


def test_nan_id_in_a_frame_names_the_row_and_the_cause(good):
    frame = pd.concat([good, good.assign(patient_id=np.nan)], ignore_index=True)
    with pytest.raises(ManifestError, match=r"patient_id is empty on row\(s\) \[1\].*'NA'"):
        read_manifest(frame)
    with pytest.raises(ManifestError, match=r"modality is empty on row\(s\) \[0\]"):
        read_manifest(good.assign(modality=None))


@pytest.mark.parametrize("form", ["long", "wide"])
def test_manifest_without_rows(tmp_path, form):
    manifest = tmp_path / "m.csv"
    header = "patient_id,modality,image,mask" if form == "long" else "patient_id,T1__image,T1__mask"
    manifest.write_text(header + "\n")
    with pytest.raises(ManifestError, match=r"manifest '.*m\.csv' has no rows"):
        read_manifest(manifest)
    with pytest.raises(ManifestError, match="DataFrame has no rows"):
        read_manifest(pd.DataFrame(columns=header.split(",")))


# ------------------------------------------------------------------------------------------------
# 4. 2-D images and NaN features; 5. NaN voxels
# ------------------------------------------------------------------------------------------------
def test_bad_images_are_error_rows_and_the_batch_goes_on(files, good_run):
    frame = pd.DataFrame(
        [
            ["P1", "T1WI", files["image"], files["mask"]],
            ["P2", "T1WI", files["image2d"], files["mask2d"]],
            ["P3", "T1WI", files["nan"], files["mask"]],
        ],
        columns=COLUMNS,
    )
    res = extract_cohort(frame, SPEC, progress=False)
    errors = res.errors.set_index("patient_id")
    assert list(errors.index) == ["P2", "P3"] and (errors["modality"] == "T1WI").all()
    flat = errors.loc["P2"]
    assert flat["image"] == files["image2d"]
    assert files["image2d"] in flat["error"] and "is 2-D" in flat["error"]
    assert "force2D: true" in flat["error"] and "shape2D" in flat["error"]
    nan = errors.loc["P3", "error"]
    assert files["nan"] in nan and "1 NaN and 0 infinite voxel(s)" in nan
    # no NaN inside a present block: P1 complete, P2 and P3 entirely missing
    pd.testing.assert_series_equal(res.features.loc["P1"], good_run.features.loc["P1"])
    assert res.features.loc[["P2", "P3"]].isna().all().all()


def test_2d_image_with_a_2d_spec_works(files):
    params = load_spec(SPEC).params
    classes = {k: v for k, v in params["featureClass"].items() if k != "shape"}
    params = {
        **params,
        "setting": {**params["setting"], "force2D": True},
        "featureClass": {**classes, "shape2D": None},
    }
    frame = pd.DataFrame([["P1", "T1WI", files["image2d"], files["mask2d"]]], columns=COLUMNS)
    res = extract_cohort(frame, params, progress=False)
    assert len(res.errors) == 0 and np.isfinite(res.features.to_numpy()).all()
    assert res.features.filter(like="shape2D").shape[1] > 0


def test_nan_or_missing_feature_values_fail_the_case(good, good_run, tmp_path, monkeypatch):
    real = case_mod.extract_case
    names = [c.split("__", 1)[1] for c in good_run.features.columns]

    def degenerate(case, *args, **kw):
        features, diagnostics = real(case, *args, **kw)
        features[names[20]] = float("nan")
        del features[names[30]]
        return features, diagnostics

    monkeypatch.setattr(case_mod, "extract_case", degenerate)
    cache = tmp_path / "cache"
    res = extract_cohort(good, SPEC, cache_dir=cache, progress=False)
    error = res.errors.set_index("patient_id").loc["P1", "error"]
    assert f"1 feature value(s) are NaN or infinite: ['{names[20]}']" in error
    assert f"no value for 1 feature(s) of the spec: ['{names[30]}']" in error
    assert res.features.isna().all().all()
    assert len(FeatureCache(cache)) == 0  # a failed case is not cached


# ------------------------------------------------------------------------------------------------
# 6. spec settings a filter needs
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("image_type", "setting", "expected"),
    [
        ({"LoG": {}}, {}, r"imageType 'LoG' needs 'sigma'"),
        ({"LoG": {"sigma": []}}, {}, r"imageType 'LoG' needs 'sigma'"),
        ({"Wavelet": {}}, {"wavelet": "morl"}, r"'wavelet: morl' is not a discrete wavelet"),
        ({"Original": {}}, {"resegmentRange": [0, 1, 2]}, r"'resegmentRange' must have one or"),
    ],
)
def test_filter_settings_checked_at_load(
    good, tmp_path, image_type, setting, expected, monkeypatch
):
    import yaml

    spec_file = tmp_path / "bad_spec.yaml"
    params = {"setting": {"binWidth": 25, **setting}, "imageType": image_type}
    spec_file.write_text(yaml.safe_dump(params))
    with pytest.raises(ValueError, match=r"bad_spec\.yaml: .*" + expected):
        load_spec(spec_file)
    with pytest.raises(ValueError, match=r"spec dict: .*" + expected):
        load_spec(params)
    calls = _no_extraction(monkeypatch)
    with pytest.raises(ValueError, match=expected):
        extract_cohort(good, spec_file, progress=False)
    assert calls == []


def test_log_sigma_under_setting_is_enough():
    spec = load_spec({"setting": {"sigma": [1.0]}, "imageType": {"LoG": {}}})
    assert spec.image_types == ["LoG"]


# ------------------------------------------------------------------------------------------------
# kill -9 and resume
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_killed_cli_run_resumes_from_the_cache(tmp_path):
    from radfuse.datasets import make_phantom_cohort

    make_phantom_cohort(tmp_path / "cohort", n_patients=6, progress=False)
    manifest = tmp_path / "cohort" / "manifest.csv"
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "radfuse.cli", "extract", str(manifest), "--spec", SPEC]
    cmd += ["--cache", str(cache), "--no-progress", "--out"]
    proc = subprocess.Popen(
        [*cmd, str(tmp_path / "killed.csv")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not list(cache.glob("*.json")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no case finished in 120 s"
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    proc.stderr.close()
    n_cases = 18  # 6 patients x 3 modalities
    n_finished = len(list(cache.glob("*.json")))
    assert 1 <= n_finished < n_cases and not (tmp_path / "killed.csv").exists()

    resumed = tmp_path / "resumed.csv"
    rerun = subprocess.run(
        [*cmd, str(resumed)], capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    expected = (
        f"{n_cases} cases: {n_cases - n_finished} extracted, {n_finished} from cache, 0 failed"
    )
    assert expected in rerun.stdout
    clean = tmp_path / "clean.csv"
    extract_cohort(manifest, SPEC, progress=False).features.to_csv(clean)
    assert resumed.read_bytes() == clean.read_bytes()
