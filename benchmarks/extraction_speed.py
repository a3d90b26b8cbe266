"""Extraction speed: plain PyRadiomics vs radfuse's exact crop, and cohort throughput.

Run from the repository root::

    python benchmarks/extraction_speed.py [--n-patients 279] [--spec mri_all_filters]
        [--skip-cases] [--skip-ct] [--skip-cohort]

1. Per real case of ``../shared/data/pyradiomics_cases`` (spec ``reference_all_filters``) and
   for a CT-sized synthetic volume (512 x 512 x 48 voxels, a small lesion; spec
   ``ct_all_filters``): seconds of plain PyRadiomics (full image) and of radfuse (exact crop)
   in the same process, their ratio, and the maximum relative difference over all features.
2. A phantom cohort (``radfuse.datasets.make_phantom_cohort``, spec ``mri_all_filters``):
   ``extract_cohort`` with ``n_jobs=1`` and ``n_jobs=2`` (each filling a fresh cache, the two
   workers started before timing), then a second ``n_jobs=2`` run served from the cache.

Timings are wall-clock and depend on the load of the machine: the script prints the load average.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
CASES_DIR = REPO.parent / "shared" / "data" / "pyradiomics_cases"


def _max_rel_diff(a: dict, b: dict) -> float:
    names = [k for k in a if not k.startswith("diagnostics_")]
    if set(names) != {k for k in b if not k.startswith("diagnostics_")}:
        raise RuntimeError("plain PyRadiomics and radfuse produced different feature names")
    x = np.array([float(a[n]) for n in names])
    y = np.array([float(b[n]) for n in names])
    diff = np.abs(x - y)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(x))
    return float(np.max(rel)), len(names)


def _time_case(label, image, mask, spec, repeats):
    from radfuse.extraction import ExactExtractor, load_spec

    params = load_spec(spec).params
    out = {}
    for mode in ("pyradiomics", "exact"):
        ex = ExactExtractor(params, mode=mode)
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = ex.execute(image, mask)
            best = min(best, time.perf_counter() - t0)
        out[mode] = (best, res)
    rel, n = _max_rel_diff(out["pyradiomics"][1], out["exact"][1])
    tp, te = out["pyradiomics"][0], out["exact"][0]
    print(
        f"{label:<28} {spec:<22} plain {tp:7.2f} s   radfuse {te:7.2f} s   "
        f"ratio {tp / te:5.1f}x   max rel diff {rel:.2e} ({n} features)",
        flush=True,
    )


def ct_volume(shape=(48, 512, 512), spacing=(0.7, 0.7, 2.5), seed=0):
    """A CT-like volume in HU (air, body, a small textured lesion) and its lesion mask."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    z, y, x = np.ogrid[:nz, :ny, :nx]
    body = ((y - ny / 2) / (0.42 * ny)) ** 2 + ((x - nx / 2) / (0.47 * nx)) ** 2 <= 1
    arr = np.where(body, 40.0, -1000.0) + rng.normal(0, 15, shape)
    # a lesion of ~9 mm radius off-centre, heterogeneous
    cz, cy, cx = nz // 2, int(ny * 0.4), int(nx * 0.6)
    r = ((z - cz) * spacing[2]) ** 2 + ((y - cy) * spacing[1]) ** 2 + ((x - cx) * spacing[0]) ** 2
    lesion = r <= 9.0**2
    arr = arr + lesion * (30 + 20 * np.sin(x / 3.0) * np.cos(y / 4.0))
    image = sitk.GetImageFromArray(arr.astype(np.int16))
    image.SetSpacing(spacing)
    mask = sitk.GetImageFromArray(lesion.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def bench_cases(repeats: int, skip_cases: bool, skip_ct: bool):
    print("== per case: plain PyRadiomics (full image) vs radfuse (exact crop) ==")
    if skip_cases:
        print("(real cases skipped)")
    elif CASES_DIR.is_dir():
        for case in ("breast1", "brain1", "brain2"):
            _time_case(
                case,
                str(CASES_DIR / f"{case}_image.nrrd"),
                str(CASES_DIR / f"{case}_label.nrrd"),
                "reference_all_filters",
                repeats,
            )
    else:
        print(f"(real cases not found at {CASES_DIR})")
    if not skip_ct:
        image, mask = ct_volume()
        n = int(sitk.GetArrayViewFromImage(mask).sum())
        _time_case(f"CT 512x512x48 ({n} vox)", image, mask, "ct_all_filters", 1)


def bench_cohort(n_patients: int, workdir: Path, spec: str):
    from radfuse.datasets import make_phantom_cohort
    from radfuse.extraction import extract_cohort, read_manifest

    print(f"== cohort: phantom, {n_patients} patients x 3 modalities, spec {spec} ==")
    cohort_dir = workdir / "phantom"
    make_phantom_cohort(cohort_dir, n_patients=n_patients, random_state=0, progress=False)
    manifest = cohort_dir / "manifest.csv"
    # Start the two loky workers (process launch and imports, once per session) before timing,
    # as a long extraction amortises them; both timed runs fill a fresh cache, so they do the
    # same work (hashing, writing) apart from the number of workers.
    extract_cohort(read_manifest(manifest).head(1), spec, n_jobs=2, progress=False)
    for name in ("cache_1", "cache_2"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    runs = {}
    for label, kw in [
        ("n_jobs=1 (filling cache)", dict(n_jobs=1, cache_dir=workdir / "cache_1")),
        ("n_jobs=2 (filling cache)", dict(n_jobs=2, cache_dir=workdir / "cache_2")),
        ("n_jobs=2 from cache", dict(n_jobs=2, cache_dir=workdir / "cache_2")),
    ]:
        t0 = time.perf_counter()
        res = extract_cohort(manifest, spec, progress=False, **kw)
        dt = time.perf_counter() - t0
        runs[label] = (dt, res)
        s = res.summary
        print(
            f"{label:<26} {dt:8.1f} s   {s['n_cases'] / dt:8.2f} cases/s   "
            f"done {s['n_done']}, cached {s['n_cached']}, failed {s['n_failed']}",
            flush=True,
        )
    t1, r1 = runs["n_jobs=1 (filling cache)"]
    t2, r2 = runs["n_jobs=2 (filling cache)"]
    tc, rc = runs["n_jobs=2 from cache"]
    pd.testing.assert_frame_equal(r1.features, r2.features)
    pd.testing.assert_frame_equal(r1.features, rc.features)
    print(f"throughput 2 workers vs 1: {t1 / t2:.2f}x   cached re-run vs n_jobs=1: {t1 / tc:.0f}x")
    print(f"feature table: {r1.features.shape}, identical across the three runs")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=279)
    parser.add_argument("--repeats", type=int, default=2, help="best of N for the real cases")
    parser.add_argument("--spec", default="mri_all_filters", help="spec of the cohort runs")
    parser.add_argument("--skip-cases", action="store_true", help="skip the real cases")
    parser.add_argument("--skip-ct", action="store_true")
    parser.add_argument("--skip-cohort", action="store_true")
    parser.add_argument("--workdir", default=None, help="folder for the phantom cohort / cache")
    args = parser.parse_args(argv)

    import radiomics

    radiomics.setVerbosity(logging.ERROR)
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs")
    bench_cases(args.repeats, args.skip_cases, args.skip_ct)
    if not args.skip_cohort:
        workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="rf-bench-"))
        try:
            bench_cohort(args.n_patients, workdir, args.spec)
        finally:
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
