"""Figures for make_phantom_cohort: write time, all-filter extraction time, LR AUC difficulty."""

import logging
import shutil
import sys
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

from radfuse.datasets import phantom
from radfuse.modality import ModalityLayout, format_name

warnings.filterwarnings("ignore")
radiomics.setVerbosity(logging.ERROR)
root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/phantom_figures")
shutil.rmtree(root, ignore_errors=True)

t = time.perf_counter()
cpu = time.process_time()
c = phantom.make_phantom_cohort(root / "full", progress=False)
print(
    "write 279 x 3 (default shape 48x48x16, 0.9x0.9x3 mm): "
    f"wall {time.perf_counter() - t:.1f} s, cpu {time.process_time() - cpu:.1f} s, "
    f"classes {np.bincount(c.y).tolist()}"
)

spec = Path(__file__).resolve().parents[1] / "feature_specs" / "mri_all_filters.yaml"
brief = {
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
rows = c.manifest.iloc[:60]  # 20 patients x 3 modalities
for name, params in [
    ("feature_specs/mri_all_filters.yaml", str(spec)),
    ("brief list (LBP2D, bw 5)", brief),
]:
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

mask_voxels = [
    int(np.sum(sitk.GetArrayFromImage(sitk.ReadImage(str(c.out_dir / m)))))
    for m in c.manifest["mask"][::3]
]
print(
    f"lesion voxels over 279 patients: min {min(mask_voxels)}, "
    f"median {int(np.median(mask_voxels))}, max {max(mask_voxels)}"
)

for n, seed in [(120, 0), (120, 1), (279, 0)]:
    if n == 279 and seed == 0:
        cc = c
    else:
        cc = phantom.make_phantom_cohort(
            root / f"n{n}_{seed}", n_patients=n, random_state=seed, progress=False
        )
    ext = featureextractor.RadiomicsFeatureExtractor(
        {
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": None, "glcm": None},
            "setting": {"normalize": True, "normalizeScale": 100, "binWidth": 5, "label": 1},
        }
    )
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
    X = pd.DataFrame.from_dict(feats, orient="index")
    y = cc.y.loc[X.index]
    layout = ModalityLayout.from_feature_names(X.columns)
    out = []
    for C in (1.0, 0.1):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
        aucs = {}
        for label, cols in [("all", X.columns)] + [
            (m, [k for k in X.columns if k.startswith(format_name(m, ""))])
            for m in ("T1WI", "FLAIR", "DWI")
        ]:
            s = [
                cross_val_score(
                    model,
                    X[cols],
                    y,
                    cv=StratifiedKFold(5, shuffle=True, random_state=k),
                    scoring="roc_auc",
                ).mean()
                for k in range(3)
            ]
            aucs[label] = np.mean(s)
        out.append(f"C={C}: " + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items()))
    print(
        f"5-fold LR AUC (3 repeats), original firstorder+GLCM ({X.shape[1]} features), "
        f"n={n}, seed {seed}: " + " | ".join(out)
    )
