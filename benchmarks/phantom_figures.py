"""Figures for make_phantom_cohort: write time, all-filter extraction time, LR AUC difficulty.

    python benchmarks/phantom_figures.py [--out DIR] [--n-patients 279] [--images 60]
        [--difficulty 120:0 120:1 279:0]

1. Writes the default phantom cohort (``--n-patients``) and times it.
2. Times plain PyRadiomics over the first ``--images`` images with ``mri_all_filters`` and with
   a brief all-family list.
3. Lesion sizes.
4. 5-fold logistic-regression AUC (3 repeats) on original first-order + GLCM features of cohorts
   of ``N`` patients and seed ``S`` (``--difficulty N:S ...``), per modality and all together.
"""

import argparse
import logging
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import radiomics
import SimpleITK as sitk
from radiomics import featureextractor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from radfuse.datasets import make_phantom_cohort
from radfuse.modality import ModalityLayout, format_name

SPEC = Path(__file__).resolve().parents[1] / "feature_specs" / "mri_all_filters.yaml"
BRIEF = {
    "imageType": {
        "Original": {},
        "Wavelet": {},
        "LoG": {"sigma": [1.0, 3.0]},
        "Square": {},
        "SquareRoot": {},
        "Logarithm": {},
        "Exponential": {},
        "Gradient": {},
        "LBP2D": {"binWidth": 1},
    },
    "featureClass": {
        k: None for k in ["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
    },
    "setting": {"normalize": True, "normalizeScale": 100, "binWidth": 5, "label": 1},
}
SIMPLE = {
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": None, "glcm": None},
    "setting": {"normalize": True, "normalizeScale": 100, "binWidth": 5, "label": 1},
}


def extraction_times(c, n_images):
    rows = c.manifest.iloc[:n_images]
    for name, params in [("feature_specs/mri_all_filters.yaml", str(SPEC)), ("brief", BRIEF)]:
        ext = featureextractor.RadiomicsFeatureExtractor(params)
        ts, nf = [], 0
        for r in rows.itertuples():
            t = time.process_time()
            f = ext.execute(str(c.out_dir / r.image), str(c.out_dir / r.mask))
            ts.append(time.process_time() - t)
            nf = sum(not k.startswith("diagnostics") for k in f)
        print(
            f"all-filter extraction, {name}: {nf} features, "
            f"per image CPU median {np.median(ts):.2f} s, "
            f"mean {np.mean(ts):.2f} s, max {np.max(ts):.2f} s (1 process, {len(ts)} images)"
        )


def simple_table(cc) -> pd.DataFrame:
    """Original first-order + GLCM features, one row per patient."""
    ext = featureextractor.RadiomicsFeatureExtractor(SIMPLE)
    feats = {}
    for r in cc.manifest.itertuples():
        f = ext.execute(str(cc.out_dir / r.image), str(cc.out_dir / r.mask))
        feats.setdefault(r.patient_id, {}).update(
            {
                format_name(r.modality, k): float(v)
                for k, v in f.items()
                if k.startswith("original_")
            }
        )
    return pd.DataFrame.from_dict(feats, orient="index")


def difficulty(X, y, n, seed):
    layout = ModalityLayout.from_feature_names(X.columns)
    out = []
    for C in (1.0, 0.1):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
        aucs = {}
        for label, cols in [("all", X.columns)] + [
            (m, X.columns[layout.index(m)]) for m in layout.names
        ]:
            folds = min(5, int(np.bincount(y).min()))
            s = [
                cross_val_score(
                    model,
                    X[cols],
                    y,
                    cv=StratifiedKFold(folds, shuffle=True, random_state=k),
                    scoring="roc_auc",
                ).mean()
                for k in range(3)
            ]
            aucs[label] = np.mean(s)
        out.append(f"C={C}: " + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items()))
    print(
        f"{folds}-fold LR AUC (3 repeats), original firstorder+GLCM ({X.shape[1]} features), "
        f"n={n}, seed {seed}: " + " | ".join(out)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/phantom_figures"))
    parser.add_argument("--n-patients", type=int, default=279)
    parser.add_argument("--images", type=int, default=60, help="images timed (first rows)")
    parser.add_argument(
        "--difficulty", nargs="*", default=["120:0", "120:1", "279:0"], help="N:SEED cohorts"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    radiomics.setVerbosity(logging.ERROR)
    root = args.out
    shutil.rmtree(root, ignore_errors=True)

    t = time.perf_counter()
    cpu = time.process_time()
    c = make_phantom_cohort(root / "full", n_patients=args.n_patients, progress=False)
    print(
        f"write {args.n_patients} x 3 (default shape 48x48x16, 0.9x0.9x3 mm): "
        f"wall {time.perf_counter() - t:.1f} s, cpu {time.process_time() - cpu:.1f} s, "
        f"classes {np.bincount(c.y).tolist()}"
    )
    extraction_times(c, args.images)
    mask_voxels = [
        int(np.sum(sitk.GetArrayFromImage(sitk.ReadImage(str(c.out_dir / m)))))
        for m in c.manifest["mask"][::3]
    ]
    print(
        f"lesion voxels over {args.n_patients} patients: min {min(mask_voxels)}, "
        f"median {int(np.median(mask_voxels))}, max {max(mask_voxels)}"
    )
    for item in args.difficulty:
        n, seed = (int(v) for v in item.split(":"))
        if n == args.n_patients and seed == 0:
            cc = c
        else:
            cc = make_phantom_cohort(
                root / f"n{n}_{seed}", n_patients=n, random_state=seed, progress=False
            )
        X = simple_table(cc)
        difficulty(X, cc.y.loc[X.index].to_numpy(), n, seed)


if __name__ == "__main__":
    main()
