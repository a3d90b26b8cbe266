"""GMENetClassifier: scikit-learn contract, CGGM generation quality, multi-task, bad inputs."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from radfuse.datasets import (
    load_breast_cancer_views,
    make_multimodal_classification,
    simulate_missing_modalities,
)
from radfuse.estimator_checks import expected_failed_checks
from radfuse.estimators.gmenet import GMENetClassifier

torch.set_num_threads(1)

_TINY = dict(
    d_model=16, n_tokens=4, attn_dim=8, n_heads=2, batch_size=32, device="cpu", random_state=0
)
MODS = {"T1WI": 12, "FLAIR": 12, "DWI": 12}


def _data(n=160, seed=0, rate=0.3, **kw):
    X, y = make_multimodal_classification(n_samples=n, modalities=MODS, random_state=seed, **kw)
    if rate:
        X = simulate_missing_modalities(X, rate=rate, random_state=seed)
    return X, y


@pytest.mark.slow
@parametrize_with_checks(
    [GMENetClassifier(max_epochs=15, lr=1e-2, **_TINY)],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_fit_uses_incomplete_rows_and_runs_three_stages():
    X, y = _data()
    clf = GMENetClassifier(max_epochs=4, **_TINY).fit(X, y)
    assert clf.n_complete_rows_ + clf.n_incomplete_rows_ == len(X)
    assert clf.n_incomplete_rows_ > 40
    stages = [h["stage"] for h in clf.history_]
    assert stages == ["supervised_complete"] * 4 + ["cggm"] * 4 + ["fusion_all_rows"] * 4
    assert {"train_mse", "train_kl", "train_cycle"} <= set(clf.history_[5])
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
    assert list(clf.classes_) == [0, 1] and clf.n_tasks_ == 1


def test_ablations_change_the_schedule_and_the_network():
    X, y = _data(n=100)
    no_gen = GMENetClassifier(generation=False, max_epochs=2, **_TINY).fit(X, y)
    assert "cggm" not in {h["stage"] for h in no_gen.history_}
    concat = GMENetClassifier(fusion="concat", max_epochs=2, cggm_epochs=3, **_TINY).fit(X, y)
    assert type(concat.module_.fusion).__name__ == "ConcatFusion"
    assert sum(h["stage"] == "cggm" for h in concat.history_) == 3
    for clf in (no_gen, concat):
        assert clf.predict_proba(X).shape == (100, 2)


def test_deterministic_for_a_seed_and_pickles():
    X, y = _data(n=100)
    a = GMENetClassifier(max_epochs=3, **_TINY).fit(X, y)
    b = GMENetClassifier(max_epochs=3, **_TINY).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = GMENetClassifier(max_epochs=3, **{**_TINY, "random_state": 1}).fit(X, y)
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))
    # The global RNGs are left alone.
    state = torch.random.get_rng_state()
    GMENetClassifier(max_epochs=1, **_TINY).fit(X, y)
    assert torch.equal(state, torch.random.get_rng_state())
    device_before = a.device_
    loaded = pickle.loads(pickle.dumps(a))
    assert a.device_ is device_before  # pickling leaves the live estimator alone
    np.testing.assert_array_equal(loaded.predict_proba(X), a.predict_proba(X))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_then_predict_on_cpu_after_pickling():
    X, y = _data(n=120)
    clf = GMENetClassifier(max_epochs=3, mixed_precision="auto", **{**_TINY, "device": "cuda"})
    clf.fit(X, y)
    assert next(clf.module_.parameters()).device.type == "cuda"
    proba = clf.predict_proba(X)
    loaded = pickle.loads(pickle.dumps(clf))
    # Pickling leaves the live model on the GPU, predicting as before.
    assert next(clf.module_.parameters()).device.type == "cuda"
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    loaded.set_params(device="cpu")
    loaded.module_.to("cpu")
    loaded.device_ = torch.device("cpu")
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=2e-2)


def test_cggm_generates_features_that_track_the_true_ones():
    # A strong shared latent: an absent modality is largely predictable from the others.
    X, y = make_multimodal_classification(
        n_samples=300, modalities=MODS, shared_fraction=0.95, noise=0.2, random_state=0
    )
    X = (X - X.mean()) / X.std()
    train, test = X.iloc[:220], X.iloc[220:]
    clf = GMENetClassifier(
        d_model=32,
        n_tokens=4,
        attn_dim=16,
        n_heads=2,
        max_epochs=10,
        cggm_epochs=20,
        lr=1e-2,
        device="cpu",
        random_state=0,
    ).fit(train, y.iloc[:220])
    net = clf.module_.eval()
    x = torch.as_tensor(
        test.to_numpy()[:, np.concatenate(clf.layout_.indices)], dtype=torch.float32
    )
    full = torch.ones(len(test), 3, dtype=torch.bool)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        real = net.encode(net.split_blocks(x), full)
        for m in range(3):
            present = full.clone()
            present[:, m] = False
            gen = net(x, present)["completed"][:, m].numpy()
            true = real[:, m].numpy()

            def mean_corr(a, b):
                # Per feature dimension across patients (the per-dimension means would make a
                # pooled correlation high for any generator).
                a, b = a - a.mean(0), b - b.mean(0)
                ok = (a.std(0) > 1e-6) & (b.std(0) > 1e-6)
                r = (a * b).sum(0)[ok] / np.sqrt((a**2).sum(0) * (b**2).sum(0))[ok]
                return float(r.mean())

            r_true = mean_corr(gen, true)
            r_shuffled = mean_corr(gen, true[rng.permutation(len(true))])
            # Measured: r_true 0.60-0.70, shuffled control 0.03-0.07.
            assert r_true > 0.45, (m, r_true)
            assert r_true > r_shuffled + 0.35, (m, r_true, r_shuffled)


def _three_tasks(n=300, seed=0):
    X, y3 = make_multimodal_classification(
        n_samples=n, modalities=MODS, n_classes=3, class_sep=2.0, random_state=seed
    )
    rng = np.random.default_rng(seed)
    b = X.filter(like="FLAIR__").to_numpy()
    t2 = (b @ rng.normal(size=b.shape[1]) + rng.normal(scale=0.5, size=n) > 0).astype(int)
    Y = pd.DataFrame({"idh": (y3.to_numpy() == 0).astype(int), "codel": t2, "grade": y3})
    return (X - X.mean()) / X.std(), Y


def test_multi_task_three_tasks_above_chance_with_masked_labels():
    X, Y = _three_tasks()
    Xtr, Xte, Ytr, Yte = X.iloc[:220], X.iloc[220:], Y.iloc[:220], Y.iloc[220:]
    Xtr = simulate_missing_modalities(Xtr, rate=0.25, random_state=0)
    # Mask 25 % of each task's training labels (NaN for two tasks, -1 for the third).
    rng = np.random.default_rng(1)
    Ym = Ytr.astype(float)
    for j, col in enumerate(Ym.columns):
        rows = rng.random(len(Ym)) < 0.25
        Ym.loc[rows, col] = -1 if j == 2 else np.nan
    clf = GMENetClassifier(max_epochs=40, cggm_epochs=10, lr=3e-3, **{**_TINY, "d_model": 32})
    clf.fit(Xtr, Ym)
    assert clf.n_tasks_ == 3
    assert [list(c) for c in clf.classes_] == [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0, 2.0]]
    pred = clf.predict(Xte)
    proba = clf.predict_proba(Xte)
    assert pred.shape == (80, 3) and [p.shape for p in proba] == [(80, 2), (80, 2), (80, 3)]
    assert roc_auc_score(Yte["idh"], proba[0][:, 1]) > 0.8
    assert roc_auc_score(Yte["codel"], proba[1][:, 1]) > 0.75
    assert np.mean(pred[:, 2] == Yte["grade"].to_numpy()) > 0.6  # chance 1/3
    assert 0.6 < clf.score(Xte, Yte) <= 1

    # Masked labels are ignored whatever marks them: NaN, -1 and None give the same fit.
    Yn = Ym.copy()
    Yn[Yn == -1] = np.nan
    Yo = Ym.astype(object).where(Ym != -1, None)
    small = dict(max_epochs=2, cggm_epochs=1, **_TINY)
    p_ref = GMENetClassifier(**small).fit(Xtr, Ym).predict_proba(Xte)
    for Yalt in (Yn, Yo):
        p_alt = GMENetClassifier(**small).fit(Xtr, Yalt).predict_proba(Xte)
        for a, b in zip(p_ref, p_alt):
            np.testing.assert_array_equal(a, b)


def test_balanced_softmax_prior_and_plain_ce():
    X, y = _data(n=120, weights=[0.8, 0.2], rate=0)
    clf = GMENetClassifier(max_epochs=2, **_TINY).fit(X, y)
    np.testing.assert_allclose(clf.class_prior_[0], np.bincount(y) / len(y))
    np.testing.assert_allclose(
        clf.module_.log_prior(0).numpy(), np.log(np.bincount(y) / len(y)), rtol=1e-6
    )
    ce = GMENetClassifier(loss="cross_entropy", max_epochs=2, **_TINY).fit(X, y)
    assert torch.all(ce.module_.log_prior(0) == 0)


def test_pipeline_cross_val_on_breast_cancer_views():
    X, y = load_breast_cancer_views()
    X = simulate_missing_modalities(X, rate=0.2, random_state=0)
    pipe = make_pipeline(
        StandardScaler().set_output(transform="pandas"),
        GMENetClassifier(max_epochs=8, cggm_epochs=2, lr=3e-3, **_TINY),
    )
    scores = cross_val_score(pipe, X, y, cv=3, scoring="roc_auc")
    assert scores.mean() > 0.9


def test_bad_inputs_give_clear_errors():
    X, y = _data(n=60)
    clf = GMENetClassifier(max_epochs=1, **_TINY)
    bad = X.copy()
    bad.iloc[3] = np.nan
    with pytest.raises(ValueError, match=r"'P0004'.*no modality at all"):
        clf.fit(bad, y)
    fitted = GMENetClassifier(max_epochs=1, **_TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"'P0004'.*no modality at all"):
        fitted.predict(bad)
    # A task with one class in training.
    with pytest.raises(ValueError, match="class"):
        clf.fit(X, np.zeros(60))
    Y = np.column_stack([y, np.ones(60)])
    with pytest.raises(ValueError, match="task 1 needs labelled samples of at least 2 classes"):
        clf.fit(X, Y)
    # Label arrays of inconsistent shape.
    with pytest.raises(ValueError, match="X has 60 rows but y has"):
        clf.fit(X, y[:50])
    with pytest.raises(ValueError, match="X has 60 rows but y has shape"):
        clf.fit(X, np.column_stack([y, y])[:50])
    with pytest.raises(ValueError, match="different lengths"):
        clf.fit(X, [list(y), list(y[:50])])
    # More than 2 dimensions.
    with pytest.raises(ValueError, match="3 dimensions"):
        clf.fit(X, np.zeros((60, 2, 2)))
    # No complete row at all.
    partial, _ = _data(n=60, rate=0)
    partial.loc[:, partial.columns.str.startswith("DWI__")] = np.nan
    with pytest.raises(ValueError, match="no training row has every modality"):
        clf.fit(partial, y)
    with pytest.raises(ValueError, match="fusion"):
        GMENetClassifier(fusion="sum").fit(X, y)
    with pytest.raises(ValueError, match="divisible by n_tokens"):
        GMENetClassifier(d_model=30, n_tokens=4).fit(X, y)
