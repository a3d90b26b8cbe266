"""The shared torch estimator base: seeding, device, weights, early stopping, stages, multi-task."""

import numpy as np
import pytest
import torch
from torch import nn

from radfuse.datasets import load_breast_cancer_views
from radfuse.estimators import MMTClassifier
from radfuse.estimators.base import Stage, TorchClassifierBase
from radfuse.nn.losses import weighted_cross_entropy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def views():
    X, y = load_breast_cancer_views()
    X = (X - X.mean()) / X.std()
    return X.iloc[:200], y.iloc[:200]


def small_mmt(**kw):
    params = dict(d_model=16, head_dims=(16,), max_epochs=3, device="cpu", random_state=0)
    params.update(kw)
    return MMTClassifier(**params)


def test_global_rng_untouched(views):
    X, y = views
    np.random.seed(123)  # noqa: NPY002 (the global RNG is what must stay untouched)
    torch.manual_seed(123)
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002
    torch_state = torch.random.get_rng_state()
    for rs in (0, None):
        small_mmt(random_state=rs).fit(X, y)
    assert np.array_equal(np_state, np.random.get_state()[1])  # noqa: NPY002
    assert torch.equal(torch_state, torch.random.get_rng_state())


def test_same_random_state_same_proba(views):
    X, y = views
    p1 = small_mmt(random_state=7).fit(X, y).predict_proba(X)
    p2 = small_mmt(random_state=7).fit(X, y).predict_proba(X)
    p3 = small_mmt(random_state=8).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    assert np.abs(p1 - p3).max() > 1e-4
    np.testing.assert_allclose(p1.sum(axis=1), 1.0)


def test_history_and_string_labels(views):
    X, y = views
    labels = np.where(y == 1, "benign", "malignant")
    est = small_mmt(max_epochs=4).fit(X, labels)
    assert list(est.classes_) == ["benign", "malignant"]
    assert set(est.predict(X)) <= {"benign", "malignant"}
    assert [h["epoch"] for h in est.history_] == [1, 2, 3, 4] and est.n_iter_ == 4
    first, last = est.history_[0], est.history_[-1]
    assert {"stage", "train_loss", "train_ce", "train_mae", "seconds"} <= set(first)
    assert last["train_loss"] < first["train_loss"]
    # The total is beta * ce + mae.
    assert last["train_loss"] == pytest.approx(last["train_ce"] + last["train_mae"], rel=1e-5)
    assert est.score(X, labels) > 0.8


def test_early_stopping_restores_best(views):
    X, y = views
    est = small_mmt(
        max_epochs=200, early_stopping=True, n_iter_no_change=3, validation_fraction=0.2, lr=3e-2
    ).fit(X, y)
    hist = est.history_
    assert len(hist) < 200
    assert {"valid_loss", "valid_ce", "valid_score"} <= set(hist[0])
    best = min(h["valid_loss"] for h in hist)
    # Stopped n_iter_no_change epochs after the best one.
    assert [h["valid_loss"] for h in hist].index(best) == len(hist) - 4
    assert 0.5 < hist[-1]["valid_score"] <= 1.0


def test_zero_sample_weight_equals_dropping_rows(views):
    X, y = views
    sw = np.ones(len(y))
    sw[::3] = 0
    a = small_mmt().fit(X, y, sample_weight=sw).predict_proba(X)
    b = small_mmt().fit(X[sw > 0], y[sw > 0]).predict_proba(X)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    c = small_mmt().fit(X, y, sample_weight=sw * 3.0).predict_proba(X)  # scale-free
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)


def test_class_weight_shifts_predictions(views):
    X, y = views
    base = small_mmt(max_epochs=5).fit(X, y).predict_proba(X)[:, 0].mean()
    heavy = small_mmt(max_epochs=5, class_weight={0: 10.0, 1: 1.0}).fit(X, y)
    assert heavy.predict_proba(X)[:, 0].mean() > base + 0.05
    balanced = small_mmt(class_weight="balanced").fit(X, y)
    assert balanced.predict_proba(X).shape == (len(y), 2)


def test_bad_base_inputs(views):
    X, y = views
    with pytest.raises(ValueError, match="at least 2 classes"):
        small_mmt().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="only one class has positive weight"):
        small_mmt().fit(X, y, sample_weight=(y == 1).astype(float))
    with pytest.raises(ValueError, match="max_epochs"):
        small_mmt(max_epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="runs on CUDA only"):
        small_mmt(mixed_precision="bf16").fit(X, y)
    Xbad = X.copy()
    Xbad.iloc[4, 0] = np.nan
    with pytest.raises(ValueError, match=rf"patient {X.index[4]!r}, modality 'MEAN'"):
        small_mmt().fit(Xbad, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_explicit_cuda_without_cuda_raises(views):
    X, y = views
    with pytest.raises(ValueError, match="CUDA is not available"):
        small_mmt(device="cuda").fit(X, y)
    # "auto" falls back to the CPU, as documented.
    assert small_mmt(device="auto").fit(X, y).device_.type == "cpu"


def test_progress_bar(views, capsys):
    X, y = views
    small_mmt(progress=True, max_epochs=2).fit(X, y)
    assert "MMTClassifier train" in capsys.readouterr().err


# -- extension points: staged training, multi-task targets, row preparation -------------------


class _TwoTaskNet(nn.Module):
    def __init__(self, p, n_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(p, 16), nn.GELU())
        self.heads = nn.ModuleList(nn.Linear(16, k) for k in n_classes)

    def forward(self, x, present=None):
        h = self.body(x)
        return [head(h) for head in self.heads]


class _StagedMultiTask(TorchClassifierBase):
    """A minimal model using every extension point of the base."""

    _multi_task = True

    def __init__(
        self,
        modalities=None,
        max_epochs=3,
        batch_size=16,
        lr=1e-2,
        weight_decay=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        class_weight=None,
        device="cpu",
        mixed_precision="auto",
        random_state=0,
        progress=False,
    ):
        self.modalities = modalities
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.progress = progress

    def _prepare_rows(self, rows, *, fit):
        if (~rows.present.any(axis=1)).any():
            raise ValueError("a row has no modality")
        return rows

    def _build_module(self):
        return _TwoTaskNet(self.n_features_in_, self.n_classes_)

    def _stages(self):
        return [
            Stage("body", max_epochs=2, rows=lambda r: r.present.all(axis=1)),
            Stage("heads", parameters=lambda m: m.heads.parameters()),
        ]

    def _loss(self, module, batch, ctx):
        self.seen_.append(
            (ctx.stage.name, int(batch["present"].all(dim=1).sum()), batch["x"].shape[0])
        )
        outs = module(batch["x"])
        parts = {
            f"ce{j}": weighted_cross_entropy(o, batch["y"][:, j], batch["weight"][:, j])
            for j, o in enumerate(outs)
        }
        return sum(parts.values()), parts

    def _predict_output(self, module, batch):
        return tuple(torch.softmax(o, dim=-1) for o in module(batch["x"]))

    def fit(self, X, y, sample_weight=None):
        self.seen_ = []
        return super().fit(X, y, sample_weight)


def test_stages_multitask_and_row_hook(views):
    X, y = views
    X0 = X.copy()
    X0.loc[X.index[:20], [c for c in X.columns if c.startswith("SE__")]] = np.nan
    y2 = np.column_stack([np.asarray(y, dtype=float), (X["MEAN__radius"] > 0).astype(float)])
    y2[::5, 1] = np.nan  # masked labels of task 1
    y2[1::7, 0] = -1
    est = _StagedMultiTask().fit(X0, y2)

    assert [h["stage"] for h in est.history_] == ["body", "body", "heads", "heads", "heads"]
    # Stage "body" trained on complete rows only; stage "heads" on every row.
    body = [s for s in est.seen_ if s[0] == "body"]
    heads = [s for s in est.seen_ if s[0] == "heads"]
    assert all(complete == n for _, complete, n in body)
    assert sum(n for _, _, n in body) == 2 * 180 and sum(n for _, _, n in heads) == 3 * 200
    assert {"train_ce0", "train_ce1"} <= set(est.history_[0])

    assert isinstance(est.classes_, list) and [list(c) for c in est.classes_] == [[0, 1], [0, 1]]
    proba = est.predict_proba(X0)
    assert isinstance(proba, list) and [p.shape for p in proba] == [(200, 2), (200, 2)]
    pred = est.predict(X0)
    assert pred.shape == (200, 2)
    assert 0.5 < est.score(X0, y2) <= 1.0

    Xnone = X0.copy()
    Xnone.iloc[3] = np.nan
    with pytest.raises(ValueError, match="no modality"):
        _StagedMultiTask().fit(Xnone, y2)


def test_frozen_parameters_do_not_move(views):
    X, y = views
    y2 = np.column_stack([y, (X["MEAN__radius"] > 0).astype(int)])

    class HeadsOnly(_StagedMultiTask):
        def _stages(self):
            return [Stage("heads", parameters=lambda m: m.heads.parameters())]

    long = HeadsOnly(random_state=3, max_epochs=3).fit(X, y2)
    short = HeadsOnly(random_state=3, max_epochs=1).fit(X, y2)
    # Same seed, same initial weights: the frozen body is identical after 1 and 3 epochs, while
    # the heads kept training; requires_grad is restored after the stage.
    for a, b in zip(long.module_.body.parameters(), short.module_.body.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(long.module_.heads[0].weight, short.module_.heads[0].weight)
    assert all(p.requires_grad for p in long.module_.parameters())


def test_pickle_of_a_gpu_model_loads_on_cpu(views):
    """A model whose device_ is CUDA unpickles onto the CPU where no GPU is visible."""
    import pickle

    X, y = views
    est = small_mmt().fit(X, y)
    proba = est.predict_proba(X)
    est.device_ = torch.device("cuda", 0)  # as if trained on a GPU (weights are on CPU here)
    state = est.__getstate__()
    assert state["device_"] == "cuda:0" and est.device_ == torch.device("cuda", 0)
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible; tests/test_cuda.py covers the real round trip")
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.device_ == torch.device("cpu")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)


def test_nn_imports_neither_sklearn_nor_pandas():
    import subprocess
    import sys

    code = (
        "import sys, radfuse.nn\n"
        "bad = [m for m in ('sklearn', 'pandas') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
