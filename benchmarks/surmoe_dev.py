"""Development benchmark of SurMoESurvival against Coxnet on scikit-survival's data sets.

Two development sets (WHAS500, GBSG2), their columns split into clinical blocks named
``"<BLOCK>__<column>"`` (categoricals one-hot encoded), 5-fold cross-validation stratified on the
event, Harrell's C-index (mean +- std over the folds), once on the complete table and once with
30 % of one block missing (whole block NaN in those rows; Coxnet then gets in-fold mean
imputation). SurMoE's defaults were chosen on these two sets; sksurv's ``load_breast_cancer`` is
never used here (it is kept as an independent check).

Usage::

    python benchmarks/surmoe_dev.py                      # SurMoE defaults
    python benchmarks/surmoe_dev.py --params '{"lr": 3e-3}'
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

from radfuse.benchmark.sources import load_sksurv
from radfuse.estimators.surmoe import SurMoESurvival

#: The block that loses 30 % of its rows in the second condition.
MISSING = {"whas500": "VITAL", "gbsg2": "RECEPT"}


def load(name: str):
    """The one-hot encoded table with ``"<BLOCK>__<column>"`` names (the benchmark's block split,
    ``radfuse.benchmark.sources.SKSURV_BLOCKS``) and the survival target."""
    return load_sksurv(name)


def blank_block(X, block: str, fraction: float, seed: int):
    """X with ``block`` all NaN in a random ``fraction`` of the rows."""
    X = X.copy()
    rows = np.random.default_rng(seed).random(len(X)) < fraction
    X.loc[rows, [c for c in X.columns if c.startswith(f"{block}__")]] = np.nan
    return X


def models(params: dict):
    return {
        "SurMoE": lambda: make_pipeline(
            StandardScaler(), SurMoESurvival(device="cpu", random_state=0, **params)
        ).set_output(transform="pandas"),  # keeps the "<BLOCK>__" column names
        "Coxnet": lambda: make_pipeline(
            SimpleImputer(strategy="mean"),
            StandardScaler(),
            CoxnetSurvivalAnalysis(l1_ratio=0.5, alpha_min_ratio=0.05, fit_baseline_model=True),
        ),
    }


def evaluate(X, y, make_model, n_splits: int = 5):
    """Harrell's C-index of each fold (stratified on the event)."""
    event, times = y[y.dtype.names[0]], y[y.dtype.names[1]]
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=0)
    scores = []
    for tr, te in cv.split(X, event):
        model = make_model().fit(X.iloc[tr], y[tr])
        scores.append(
            concordance_index_censored(event[te], times[te], model.predict(X.iloc[te]))[0]
        )
    return np.array(scores)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="{}", help="SurMoESurvival parameters as JSON")
    parser.add_argument("--datasets", nargs="+", default=list(MISSING))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    params = json.loads(args.params)
    print(f"SurMoESurvival parameters: {params or 'defaults'}")
    print(f"{'dataset':8} {'condition':16} {'model':7} {'C-index':>15} {'seconds':>8}")
    for name in args.datasets:
        X, y = load(name)
        conditions = {
            "complete": X,
            f"30% {MISSING[name]} NaN": blank_block(X, MISSING[name], 0.3, seed=0),
        }
        for cond, Xc in conditions.items():
            for label, make_model in models(params).items():
                t0 = time.perf_counter()
                s = evaluate(Xc, y, make_model, n_splits=args.folds)
                print(
                    f"{name:8} {cond:16} {label:7} {s.mean():.3f} +- {s.std():.3f} "
                    f"{time.perf_counter() - t0:8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
