"""One benchmark fit, run in a worker: choose the training rows, fit, evaluate every subset, and
measure each block's importance by blanking it at test time (classification; a survival fit is
scored by :mod:`radfuse.benchmark.survival_fit` and has no blanked-block importance).

:func:`run_fit` is what a worker runs; the steps are separate functions.
"""

from __future__ import annotations

import os
import platform
import time
import traceback

import numpy as np
import pandas as pd

from radfuse.benchmark.build import build_estimator
from radfuse.benchmark.metrics import compute_metrics
from radfuse.benchmark.plan import Fit, result_row, subset_name
from radfuse.benchmark.schema import ModelConfig
from radfuse.benchmark.survival_data import is_survival
from radfuse.benchmark.survival_fit import evaluate_survival
from radfuse.benchmark.tuning import make_search, tuning_record
from radfuse.modality import ModalityLayout

__all__ = [
    "blanked_importance",
    "choose_train_rows",
    "evaluate",
    "make_estimator",
    "run_fit",
    "subset_inputs",
]


def _blank(X: pd.DataFrame, layout, keep: tuple[str, ...]) -> pd.DataFrame:
    X = X.copy()
    for m in layout.names:
        if m not in keep:
            X.iloc[:, layout.index(m)] = np.nan
    return X


def _columns_of(layout, subset) -> np.ndarray:
    return np.concatenate([layout.index(m) for m in subset])


def _block_positions(layout, subset) -> list[int]:
    return [list(layout.names).index(m) for m in subset]


def choose_train_rows(fit: Fit, mcfg: ModelConfig, layout, present: np.ndarray) -> np.ndarray:
    """Training row positions of a fit, from its split, ``train_rows`` and ``subset_mode``.

    ``present`` is the (rows, blocks) presence mask. ``train_rows="complete"`` (and ``"subset"``
    for a model fitted on every block) keeps rows with every block; ``columns`` models drop rows
    without any block of the fitted subset (and, with ``"subset"``, rows lacking one);
    ``input_modalities`` models need every block they read.
    """
    mode = mcfg.subset_mode
    tr = fit.split.train
    if mcfg.train_rows == "complete" or (mcfg.train_rows == "subset" and mode == "blank_at_test"):
        tr = tr[present[tr].all(axis=1)]
    if mode == "columns":
        sub_idx = _block_positions(layout, fit.fit_subset)
        # rows without any block of the subset carry nothing for this model
        tr = tr[present[tr][:, sub_idx].any(axis=1)]
        if mcfg.train_rows == "subset":
            tr = tr[present[tr][:, sub_idx].all(axis=1)]
    elif mode == "input_modalities":
        # the network reads the subset's blocks, so a training row needs every one of them
        sub_idx = _block_positions(layout, fit.fit_subset)
        tr = tr[present[tr][:, sub_idx].all(axis=1)]
    return tr


def make_estimator(fit: Fit, mcfg: ModelConfig, layout, *, seed: int, device, threads: int):
    """The estimator of a fit (seeded with ``seed + repeat``)."""
    mode = mcfg.subset_mode
    # With every modality as input no reconstruction target is left: the network then runs as a
    # plain fusion model, every block a token and no missing token (input_modalities=None with
    # no modality dropout).
    full_fusion = mode == "input_modalities" and fit.fit_subset == tuple(layout.names)
    return build_estimator(
        mcfg,
        seed=seed + fit.split.repeat,
        device=device,
        threads=threads,
        input_modalities=fit.fit_subset if mode == "input_modalities" and not full_fusion else None,
        defaults={"modality_dropout": 0.0} if full_fusion else None,
    )


def subset_inputs(fit: Fit, mcfg: ModelConfig, X, layout, present, rows: np.ndarray):
    """``(subset, row positions, model input)`` for each subset of a fit.

    Subset S takes the ``rows`` that have every modality of S, with exactly S available: S's
    columns for a ``columns`` model, the other blocks blanked (NaN) otherwise.
    """
    for sub in fit.subsets:
        sub_idx = _block_positions(layout, sub)
        r = rows[present[rows][:, sub_idx].all(axis=1)]
        if mcfg.subset_mode == "columns":
            yield sub, r, X.iloc[r].iloc[:, _columns_of(layout, sub)]
        else:
            yield sub, r, _blank(X.iloc[r], layout, sub)


def evaluate(
    est, fit: Fit, mcfg: ModelConfig, X, y, layout, present, *, n_train: int, positive_label
) -> tuple[list[dict], list[dict]]:
    """Result rows and out-of-fold predictions of a fitted model on each subset of the fit.

    Subset S is scored on the test patients who have every modality of S, with exactly S
    available (the same patients for every model).
    """
    classes = np.asarray(est.classes_)
    split = fit.split
    rows, oof = [], []
    for sub, te, X_test in subset_inputs(fit, mcfg, X, layout, present, split.test):
        proba = np.asarray(est.predict_proba(X_test), dtype=float)
        metrics = compute_metrics(y[te], proba, classes, positive_label)
        rows.append(result_row(fit, sub, n_train=n_train, n_test=len(te), **metrics))
        oof.append(
            {
                "subset": subset_name(sub),
                "patient_id": [str(p) for p in X.index[te]],
                "y_true": y[te].tolist(),
                "proba": proba.tolist(),
            }
        )
    return rows, oof


def blanked_importance(est, fit: Fit, X, y, layout, present, *, positive_label) -> dict:
    """Predictions and ROC AUC of a full-subset ``columns`` fit with each block blanked at test.

    Only for such fits: ``blank_at_test`` models get it from their subset rows, and
    ``input_modalities`` models are trained per subset and never see a missing input block, so
    blanking one would measure nothing meaningful (compare their subset rows instead). A model
    that cannot take a blanked block gets ``{"error": ...}`` for it.
    """
    all_mods = tuple(layout.names)
    classes = np.asarray(est.classes_)
    te = fit.split.test
    rows_ok = te[present[te].all(axis=1)]
    blanked = {}
    for m in all_mods:
        keep = tuple(x for x in all_mods if x != m)
        try:
            Xb = _blank(X.iloc[rows_ok], layout, keep)
            with np.errstate(all="ignore"):
                p = np.asarray(est.predict_proba(Xb), dtype=float)
            if not np.isfinite(p).all():
                raise ValueError("non-finite probabilities")
            blanked[m] = {
                "patient_id": [str(x) for x in X.index[rows_ok]],
                "y_true": y[rows_ok].tolist(),
                "proba": p.tolist(),
                "roc_auc": compute_metrics(y[rows_ok], p, classes, positive_label)["roc_auc"],
            }
        except Exception as exc:  # the model cannot take a missing block: say so
            blanked[m] = {"error": f"{type(exc).__name__}: {exc}"[:160]}
    return blanked


def _fit_and_score(
    fit, mcfg, values, columns, index, y, *, seed, device, threads, positive_label, importance
) -> dict:
    t_start, cpu_start = time.perf_counter(), time.process_time()
    X = pd.DataFrame(
        np.asarray(values, dtype=float), columns=columns, index=pd.Index(index, name="patient_id")
    )
    layout = ModalityLayout.from_feature_names(columns, require_blocks=True)
    all_mods = tuple(layout.names)
    present = layout.presence_mask(X.to_numpy())
    tr = choose_train_rows(fit, mcfg, layout, present)
    est = make_estimator(fit, mcfg, layout, seed=seed, device=device, threads=threads)
    search, names = None, {}
    if mcfg.tuning is not None:
        # the search sees only this fit's training rows: the outer test fold stays unseen
        search, names = make_search(
            est,
            mcfg,
            fit.fit_subset,
            all_mods,
            seed=seed + fit.split.repeat,
            n_classes=len(np.unique(y[tr])),
        )
        est = est if search is None else search
    if mcfg.subset_mode == "columns":
        X_train = X.iloc[tr, _columns_of(layout, fit.fit_subset)]
    else:
        X_train = X.iloc[tr]
    t0 = time.perf_counter()
    est.fit(X_train, y[tr])
    fit_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    survival = is_survival(y)
    if survival:  # the training rows' risks set each fold's risk-group threshold
        rows, oof = evaluate_survival(
            est,
            fit,
            list(subset_inputs(fit, mcfg, X, layout, present, fit.split.test)),
            list(subset_inputs(fit, mcfg, X, layout, present, tr)),
            y,
            n_train=len(tr),
        )
    else:
        rows, oof = evaluate(
            est, fit, mcfg, X, y, layout, present, n_train=len(tr), positive_label=positive_label
        )
    predict_seconds = time.perf_counter() - t0
    blanked = {}
    if (
        importance
        and not survival
        and all_mods in fit.subsets
        and len(all_mods) > 1
        and mcfg.subset_mode == "columns"
    ):
        blanked = blanked_importance(est, fit, X, y, layout, present, positive_label=positive_label)
    seconds = time.perf_counter() - t_start
    for r in rows:
        r["fit_seconds"] = round(fit_seconds, 3)
        r["predict_seconds"] = round(predict_seconds / len(rows), 3)
    payload = {
        "key": fit.key,
        "digest": fit.digest,
        "classes": None if survival else np.asarray(est.classes_).tolist(),
        "rows": rows,
        "oof": oof,
        "blanked": blanked,
        "seconds": round(seconds, 3),
        # CPU time of the worker process (all its threads): contention-free cost of the fit
        "cpu_seconds": round(time.process_time() - cpu_start, 3),
        "fit_seconds": round(fit_seconds, 3),
        "threads": threads,
        "pid": os.getpid(),
        "host": platform.node(),
    }
    if mcfg.tuning is not None:  # an untuned fit's payload stays as it was
        fitted_on = None if fit.fit_subset is None else subset_name(fit.fit_subset)
        payload["tuning"] = tuning_record(search, names, mcfg, fitted_on)
    return payload


def run_fit(
    fit: Fit,
    mcfg: ModelConfig,
    values: np.ndarray,
    columns: list,
    index: list,
    y: np.ndarray,
    *,
    seed: int,
    device,
    threads: int,
    positive_label=None,
    importance: bool = True,
) -> dict:
    """Fit one model on one split and evaluate it on its subsets, with ``threads`` threads.

    Returns a JSON-serialisable dict with the result rows, the out-of-fold predictions, the
    blanked-block predictions and timings.

    Raises
    ------
    RuntimeError
        Naming the fit, the model and its class, when anything inside fails.
    """
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            return _fit_and_score(
                fit,
                mcfg,
                values,
                columns,
                index,
                y,
                seed=seed,
                device=device,
                threads=threads,
                positive_label=positive_label,
                importance=importance,
            )
    except Exception as exc:
        raise RuntimeError(
            f"benchmark fit {fit.key!r} (model {mcfg.name!r}, class {mcfg.cls}) failed: "
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        ) from exc
