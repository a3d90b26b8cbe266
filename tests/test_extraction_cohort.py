"""Cohort extraction: wide table, error table, cache and resume, Dask, CLI, transformer."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from sklearn.utils.estimator_checks import parametrize_with_checks

import radfuse.extraction.cohort as cohort
import radfuse.extraction.exact as exact
from radfuse.estimator_checks import expected_failed_checks
from radfuse.extraction import (
    ExactExtractor,
    FilterSkippedError,
    ManifestError,
    RadiomicsExtractor,
    extract_cohort,
    load_spec,
)
from radfuse.extraction.cli import run_extract
from radfuse.modality import format_name

SPEC = "mri_original"
ERRCOLS = ["patient_id", "modality", "image", "mask", "error"]
N_ORIGINAL = 107


def _write(path, arr, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0), direction=None):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return str(path)


def _volume(seed, shape=(8, 20, 20)):
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    blob = ((z - 4) / 3.0) ** 2 + ((y - 10) / 5.0) ** 2 + ((x - 9) / 6.0) ** 2 <= 1
    arr = rng.normal(200, 30, shape) + 80 * blob + 5 * seed
    return arr.astype(np.int16), blob.astype(np.uint8)


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    """4 patients x (T1WI, DWI); P4 has no DWI."""
    root = tmp_path_factory.mktemp("cohort")
    rows = []
    for i, pid in enumerate(["P1", "P2", "P3", "P4"]):
        for j, mod in enumerate(["T1WI", "DWI"]):
            if pid == "P4" and mod == "DWI":
                continue
            arr, mask = _volume(10 * i + j)
            _write(root / pid / f"{mod}.nrrd", arr)
            _write(root / pid / f"{mod}_mask.nrrd", mask)
            rows.append([pid, mod, f"{pid}/{mod}.nrrd", f"{pid}/{mod}_mask.nrrd", i % 2])
    manifest = root / "manifest.csv"
    pd.DataFrame(rows, columns=["patient_id", "modality", "image", "mask", "label"]).to_csv(
        manifest, index=False
    )
    return root


@pytest.fixture(scope="module")
def reference_run(cohort_dir):
    return extract_cohort(cohort_dir / "manifest.csv", SPEC, progress=False)


def test_wide_table(reference_run, cohort_dir):
    feats = reference_run.features
    assert feats.index.name == "patient_id" and list(feats.index) == ["P1", "P2", "P3", "P4"]
    assert feats.shape == (4, 2 * N_ORIGINAL)
    assert (feats.dtypes == np.float64).all()
    assert feats.columns[0] == "T1WI__original_shape_Elongation"
    assert "DWI__original_glcm_Contrast" in feats.columns
    dwi = [c for c in feats.columns if c.startswith("DWI__")]
    assert feats.loc["P4", dwi].isna().all()  # missing modality = NaN block
    assert np.isfinite(feats.drop(index="P4").to_numpy()).all()
    assert not any("diagnostics" in c for c in feats.columns)
    assert len(reference_run.errors) == 0
    assert list(reference_run.errors.columns) == ERRCOLS
    diag = reference_run.diagnostics
    assert diag.shape[0] == 7 and "diagnostics_Versions_PyRadiomics" in diag.columns
    assert reference_run.summary["n_done"] == 7
    assert list(reference_run.manifest["label"]) == ["0", "1", "0", "1"]


def test_values_equal_plain_pyradiomics(reference_run, cohort_dir):
    ex = ExactExtractor(load_spec(SPEC).params, mode="pyradiomics")
    res = ex.execute(str(cohort_dir / "P2/DWI.nrrd"), str(cohort_dir / "P2/DWI_mask.nrrd"))
    row = reference_run.features.loc["P2"]
    for name, value in res.items():
        if not name.startswith("diagnostics_"):
            assert row[format_name("DWI", name)] == pytest.approx(float(value), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    arr, mask = _volume(1)
    rows = []

    def add(pid, image_kw=None, mask_arr=None, mask_kw=None, image_path=None, mask_path=None):
        img = image_path or _write(root / pid / "img.nrrd", arr, **(image_kw or {}))
        msk = mask_path or _write(
            root / pid / "mask.nrrd", mask if mask_arr is None else mask_arr, **(mask_kw or {})
        )
        rows.append([pid, "T1WI", img, msk])

    add("ok")
    add("missing", image_path=str(root / "ok" / "nope.nrrd"))
    (root / "corrupt").mkdir()
    (root / "corrupt" / "img.nrrd").write_bytes(b"NRRD0004\ntype: garbage\n\x00\x01")
    add("corrupt", image_path=str(root / "corrupt" / "img.nrrd"))
    add("size", mask_arr=mask[:, :, :18])
    add("spacing", mask_kw={"spacing": (1.0, 1.0, 2.5)})
    add("origin", mask_kw={"origin": (0.0, 0.5, 0.0)})
    add("direction", mask_kw={"direction": (0, 1, 0, 1, 0, 0, 0, 0, 1)})
    add("empty", mask_arr=np.zeros_like(mask))
    add("label2", mask_arr=(2 * mask).astype(np.uint8))
    one = np.zeros_like(mask)
    one[4, 10, 10] = 1
    add("onevoxel", mask_arr=one)
    df = pd.DataFrame(rows, columns=["patient_id", "modality", "image", "mask"])
    return df


@pytest.fixture(scope="module")
def bad_run(bad_cohort):
    return extract_cohort(bad_cohort, SPEC, progress=False)


@pytest.mark.parametrize(
    ("pid", "expected"),
    [
        ("missing", "image file not found"),
        ("corrupt", "cannot read image file .*unreadable or corrupt"),
        ("size", r"differ in size \(image \(20, 20, 8\), mask \(18, 20, 8\)\)"),
        ("spacing", r"differ in spacing .*resample_mask=True"),
        ("origin", r"differ in origin \(image \(0.0, 0.0, 0.0\), mask \(0.0, 0.5, 0.0\)\)"),
        ("direction", "differ in direction"),
        ("empty", "mask is empty"),
        ("label2", r"no voxel with label 1 \(labels present: \[2\]\)"),
        ("onevoxel", "single voxel"),
    ],
)
def test_bad_case_becomes_error_row(bad_run, bad_cohort, pid, expected):
    errors = bad_run.errors.set_index("patient_id")
    assert pid in errors.index
    row = errors.loc[pid]
    assert row["modality"] == "T1WI"
    src = bad_cohort.set_index("patient_id").loc[pid]
    assert row["image"] == src["image"] and row["mask"] == src["mask"]
    assert pd.Series([row["error"]]).str.contains(expected, regex=True).all(), row["error"]


def test_batch_goes_on_after_bad_cases(bad_run):
    assert bad_run.summary["n_failed"] == 9 and bad_run.summary["n_done"] == 1
    assert np.isfinite(bad_run.features.loc["ok"]).all()
    assert bad_run.features.drop(index="ok").isna().all().all()


def test_resample_mask_option(bad_cohort):
    sub = bad_cohort[bad_cohort["patient_id"].isin(["ok", "origin", "spacing"])]
    res = extract_cohort(sub, SPEC, progress=False, resample_mask=True)
    assert len(res.errors) == 0
    assert np.isfinite(res.features.to_numpy()).all()


def test_manifest_error_stops_before_extraction(bad_cohort, monkeypatch):
    calls = []
    monkeypatch.setattr(cohort, "run_case", lambda *a: calls.append(a))
    dup = pd.concat([bad_cohort.iloc[:1], bad_cohort.iloc[:1]])
    with pytest.raises(ManifestError, match="duplicate"):
        extract_cohort(dup, SPEC, progress=False)
    assert calls == []


def test_skipped_filter_is_a_case_error(cohort_dir):
    params = {"setting": {"binWidth": 25}, "imageType": {"Original": {}, "LoG": {"sigma": [50.0]}}}
    res = extract_cohort(cohort_dir / "manifest.csv", params, progress=False)
    assert res.summary["n_failed"] == 7
    assert res.errors["error"].str.contains(r"LoG \(log-sigma-50-0-mm-3D\)").all()


def test_lbp3d_without_sph_harm_is_reported(cohort_dir, monkeypatch):
    import contextlib

    import scipy.special

    if hasattr(scipy.special, "sph_harm"):
        pytest.skip("this SciPy still has sph_harm")
    params = {"setting": {"binWidth": 1}, "imageType": {"LBP3D": {}}}
    img, msk = str(cohort_dir / "P1/T1WI.nrrd"), str(cohort_dir / "P1/T1WI_mask.nrrd")
    res = ExactExtractor(params).execute(img, msk)  # works with radfuse's compatibility shim
    assert sum(k.startswith("lbp-3D-k_") for k in res) > 50
    monkeypatch.setattr(exact, "sph_harm_compat", contextlib.nullcontext)
    with pytest.raises(FilterSkippedError, match=r"LBP3D \(lbp-3D-m1\).*sph_harm"):
        ExactExtractor(params).execute(img, msk)


# ------------------------------------------------------------------------------------------------
# cache and resume
# ------------------------------------------------------------------------------------------------
_REAL_RUN_CASE = cohort.run_case


class _Killed(BaseException):
    """Stands for a killed run (not an Exception: it is not turned into an error row)."""


def _counting(monkeypatch, stop_after=None):
    calls = []
    real = _REAL_RUN_CASE

    def wrapped(case, *args):
        if stop_after is not None and len(calls) == stop_after:
            raise _Killed
        calls.append((case.patient_id, case.modality))
        return real(case, *args)

    monkeypatch.setattr(cohort, "run_case", wrapped)
    return calls


def test_resume_after_interruption(cohort_dir, reference_run, tmp_path, monkeypatch):
    manifest = cohort_dir / "manifest.csv"
    calls = _counting(monkeypatch, stop_after=3)
    with pytest.raises(_Killed):
        extract_cohort(manifest, SPEC, cache_dir=tmp_path, progress=False)
    assert len(calls) == 3 and len(list(tmp_path.glob("*.json"))) == 3
    assert not list(tmp_path.glob(".tmp-*"))  # no half-written entries

    calls = _counting(monkeypatch)
    resumed = extract_cohort(manifest, SPEC, cache_dir=tmp_path, progress=False)
    assert len(calls) == 4  # only the missing cases
    assert resumed.summary["n_cached"] == 3 and resumed.summary["n_done"] == 4
    pd.testing.assert_frame_equal(resumed.features, reference_run.features)

    calls = _counting(monkeypatch)
    again = extract_cohort(manifest, SPEC, cache_dir=tmp_path, progress=False)
    assert calls == [] and again.summary["n_cached"] == 7
    pd.testing.assert_frame_equal(again.features, reference_run.features)
    pd.testing.assert_frame_equal(again.diagnostics, reference_run.diagnostics)


def test_changed_setting_invalidates_every_case(cohort_dir, tmp_path, monkeypatch):
    manifest = cohort_dir / "manifest.csv"
    extract_cohort(manifest, SPEC, cache_dir=tmp_path, progress=False)
    params = load_spec(SPEC).params
    changed = {**params, "setting": {**params["setting"], "binWidth": 11}}
    calls = _counting(monkeypatch)
    res = extract_cohort(manifest, changed, cache_dir=tmp_path, progress=False)
    assert len(calls) == 7 and res.summary["n_cached"] == 0
    calls = _counting(monkeypatch)
    extract_cohort(manifest, SPEC, cache_dir=tmp_path, progress=False)
    assert calls == []  # the original entries are still valid


def test_changed_image_bytes_invalidate_that_case(cohort_dir, tmp_path, monkeypatch):
    root = tmp_path / "copy"
    man = pd.read_csv(cohort_dir / "manifest.csv").iloc[:2]
    for p in list(man["image"]) + list(man["mask"]):
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes((cohort_dir / p).read_bytes())
    man.to_csv(root / "manifest.csv", index=False)
    cache = tmp_path / "cache"
    extract_cohort(root / "manifest.csv", SPEC, cache_dir=cache, progress=False)
    arr, _ = _volume(99)
    _write(root / man["image"].iloc[0], arr)
    calls = _counting(monkeypatch)
    extract_cohort(root / "manifest.csv", SPEC, cache_dir=cache, progress=False)
    assert calls == [("P1", "T1WI")]


def test_modality_order_sets_the_block_order(cohort_dir, reference_run, tmp_path):
    mods = list(dict.fromkeys(c.split("__")[0] for c in reference_run.features.columns))
    order = mods[::-1]
    res = extract_cohort(cohort_dir / "manifest.csv", SPEC, progress=False, modality_order=order)
    expected = [c for m in order for c in reference_run.features.columns if c.startswith(m + "__")]
    pd.testing.assert_frame_equal(res.features, reference_run.features[expected])


# ------------------------------------------------------------------------------------------------
# parallel and distributed
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dask_local_cluster_equals_sequential(cohort_dir, reference_run):
    pytest.importorskip("dask.distributed")
    res = extract_cohort(
        cohort_dir / "manifest.csv", SPEC, backend="dask", n_jobs=2, progress=False
    )
    pd.testing.assert_frame_equal(res.features, reference_run.features)
    assert len(res.errors) == 0


def test_dask_scheduler_address(cohort_dir, reference_run):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        res = extract_cohort(
            cohort_dir / "manifest.csv", SPEC, scheduler=cluster.scheduler_address, progress=False
        )
    pd.testing.assert_frame_equal(res.features, reference_run.features)


def test_joblib_two_workers_equal_sequential(cohort_dir, reference_run):
    res = extract_cohort(cohort_dir / "manifest.csv", SPEC, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(res.features, reference_run.features)


# ------------------------------------------------------------------------------------------------
# CLI and transformer
# ------------------------------------------------------------------------------------------------
def _args(**kw):
    base = dict(spec=SPEC, n_jobs=1, cache=None, scheduler=None, no_progress=True)
    return types.SimpleNamespace(**{**base, **kw})


def test_cli_extract(cohort_dir, bad_cohort, reference_run, tmp_path, capsys):
    out = tmp_path / "feats.csv"
    assert run_extract(_args(manifest=str(cohort_dir / "manifest.csv"), out=str(out))) == 0
    text = capsys.readouterr().out
    assert "7 cases: 7 extracted, 0 from cache, 0 failed" in text
    table = pd.read_csv(out, index_col="patient_id")
    np.testing.assert_allclose(table.to_numpy(), reference_run.features.to_numpy(), rtol=1e-12)
    assert (tmp_path / "feats_errors.csv").is_file()

    bad_manifest = tmp_path / "bad.csv"
    bad_cohort.to_csv(bad_manifest, index=False)
    out = tmp_path / "bad.parquet"
    assert run_extract(_args(manifest=str(bad_manifest), out=str(out))) == 0  # one case worked
    errors = pd.read_csv(tmp_path / "bad_errors.csv")
    assert len(errors) == 9 and "9 failed" in capsys.readouterr().out

    only_bad = tmp_path / "only_bad.csv"
    bad_cohort[bad_cohort["patient_id"] != "ok"].to_csv(only_bad, index=False)
    assert run_extract(_args(manifest=str(only_bad), out=str(tmp_path / "x.csv"))) == 1
    dup = tmp_path / "dup.csv"
    pd.concat([bad_cohort.iloc[:1]] * 2).to_csv(dup, index=False)
    assert run_extract(_args(manifest=str(dup), out=str(tmp_path / "y.csv"))) == 2
    assert "duplicate" in capsys.readouterr().err


def test_radiomics_extractor_transformer(cohort_dir, reference_run, tmp_path):
    from radfuse.extraction import read_manifest

    manifest = read_manifest(cohort_dir / "manifest.csv")
    ext = RadiomicsExtractor(spec=SPEC, cache_dir=tmp_path)
    assert ext.fit(manifest) is ext
    names = ext.get_feature_names_out()
    assert len(names) == 2 * N_ORIGINAL and names[0] == "T1WI__original_shape_Elongation"
    out = ext.transform(manifest)
    pd.testing.assert_frame_equal(out, reference_run.features)
    # a manifest without DWI still gives the DWI block (NaN), as seen in fit
    t1_only = manifest[["T1WI__image", "T1WI__mask"]]
    out2 = ext.set_output(transform="pandas").transform(t1_only)
    assert list(out2.columns) == list(names)
    assert out2.filter(like="DWI__").isna().all().all()
    with pytest.raises(ManifestError):
        RadiomicsExtractor(spec=SPEC).fit(manifest.assign(extra=1))
    with pytest.raises(ValueError, match="Unknown feature spec"):
        RadiomicsExtractor(spec="nope").fit(manifest)


@parametrize_with_checks(
    [RadiomicsExtractor(spec=SPEC)], expected_failed_checks=expected_failed_checks
)
def test_sklearn_estimator_checks(estimator, check):
    # RadiomicsExtractor declares (tags) that its input is a manifest of file paths, not a
    # numeric 2D array, so scikit-learn runs only the checks that apply to such input.
    check(estimator)


def test_sklearn_tags_say_manifest_input():
    tags = RadiomicsExtractor().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


def test_complex_feature_values():
    # NumPy >= 2.5 makes PyRadiomics' shape axis lengths complex with a zero imaginary part.
    from radfuse.extraction.case import _real

    assert _real("original_shape_Elongation", np.complex128(0.7 + 0j)) == 0.7
    assert isinstance(_real("x", np.float32(2.5)), float)
    with pytest.raises(ValueError, match="original_shape_Flatness is complex"):
        _real("original_shape_Flatness", np.complex128(0.7 + 0.1j))
