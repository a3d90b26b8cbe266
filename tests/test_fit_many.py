"""fit_many: populations of networks trained as one batched fit equal their own fits."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from radfuse.datasets import load_breast_cancer_views
from radfuse.estimators import GMENetClassifier, MFNVAEClassifier, MMTClassifier, fit_many
from radfuse.estimators._adamw import BatchedAdamW


@pytest.fixture(scope="module")
def views():
    X, y = load_breast_cancer_views()
    X = (X - X.mean()) / X.std()
    return X.iloc[:160], y.iloc[:160]


def _data(X, y, slices):
    return [(X.iloc[s], y.iloc[s]) for s in slices]


SLICES = [slice(0, 160), slice(0, 140), slice(20, 151)]


def _same_as_own_fit(ests, data, atol=1e-4):
    fitted = fit_many([clone(e) for e in ests], data)
    X_all = data[0][0]
    for pos, (e, f, (X, y)) in enumerate(zip(ests, fitted, data)):
        own = clone(e).fit(X, y)
        np.testing.assert_allclose(
            f.predict_proba(X_all), own.predict_proba(X_all), atol=atol, err_msg=f"member {pos}"
        )
        assert f.n_iter_ == own.n_iter_
        assert [h.keys() for h in f.history_] == [h.keys() for h in own.history_]
        assert [h["stage"] for h in f.history_] == [h["stage"] for h in own.history_]
    return fitted


@pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")
@pytest.mark.parametrize(
    ("base", "atol"),
    [
        (MMTClassifier(["MEAN", "SE"], max_epochs=5, dropout=0.0, device="cpu"), 1e-4),
        (MMTClassifier(None, max_epochs=5, dropout=0.0, modality_dropout=0.0), 1e-4),
        # SDPA has no vmap batching rule (a per-member fallback): its rounding drifts further.
        (
            MMTClassifier(
                None, interaction="sdpa", max_epochs=5, dropout=0.0, modality_dropout=0.0
            ),
            3e-4,
        ),
        (MFNVAEClassifier(max_epochs=5, dropout=0.0, reparameterize=False, device="cpu"), 1e-4),
    ],
    ids=["mmt-2m", "mmt-any", "mmt-any-sdpa", "mfnvae"],
)
def test_members_equal_their_own_fit_without_random_draws(views, base, atol):
    X, y = views
    base = clone(base).set_params(device="cpu")
    ests = [
        clone(base).set_params(random_state=0, lr=1e-3),
        clone(base).set_params(random_state=1, lr=2e-3, weight_decay=0.1),
        clone(base).set_params(random_state=2, max_epochs=2, batch_size=16),
    ]
    fitted = _same_as_own_fit(ests, _data(X, y, SLICES), atol)
    assert [f.n_iter_ for f in fitted] == [5, 5, 2]


def test_early_stopping_and_loss_weights_per_member(views):
    X, y = views
    base = MMTClassifier(
        ["MEAN", "SE"], max_epochs=12, dropout=0.0, early_stopping=True, n_iter_no_change=2
    )
    ests = [
        clone(base).set_params(random_state=3, device="cpu"),
        clone(base).set_params(random_state=4, recon_weight=0.5, device="cpu"),
        clone(base).set_params(random_state=5, early_stopping=False, max_epochs=3, device="cpu"),
    ]
    fitted = _same_as_own_fit(ests, _data(X, y, SLICES))
    assert "valid_loss" in fitted[0].history_[0] and "valid_loss" not in fitted[2].history_[0]


def test_mixed_classes_gmenet_and_pickling(views, tmp_path):
    X, y = views
    ests = [
        MMTClassifier(["MEAN", "SE"], max_epochs=2, random_state=0, device="cpu"),
        MFNVAEClassifier(max_epochs=2, random_state=0, device="cpu"),
        GMENetClassifier(max_epochs=1, random_state=0, device="cpu"),
        MMTClassifier(["MEAN", "SE"], max_epochs=2, random_state=1, device="cpu"),
    ]
    fitted = fit_many(ests, _data(X, y, [slice(0, 160)] * 4))
    assert fitted is not ests and all(a is b for a, b in zip(fitted, ests))
    # A group of one (and GMENet, never batched) takes the exact single-fit path.
    for e in ests[1:3]:
        own = clone(e).fit(X, y)
        np.testing.assert_array_equal(e.predict_proba(X), own.predict_proba(X))
    back = pickle.loads(pickle.dumps(ests[3]))
    np.testing.assert_array_equal(back.predict_proba(X), ests[3].predict_proba(X))
    assert back.device_ == torch.device("cpu") and back.n_iter_ == 2


def test_default_dropout_is_reproducible_and_refits(views):
    X, y = views
    base = MMTClassifier(None, max_epochs=2, device="cpu")
    ests = [clone(base).set_params(random_state=s) for s in range(3)]
    data = _data(X, y, SLICES)
    first = [e.predict_proba(X) for e in fit_many(ests, data)]
    again = [e.predict_proba(X) for e in fit_many(ests, data)]  # refit of fitted estimators
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(h["train_loss"]) for e in ests for h in e.history_)


def test_batched_adamw_equals_torch_adamw_and_freezes_inactive_members():
    torch.manual_seed(0)
    lrs, wds = [1e-3, 3e-3, 1e-2], [1e-2, 0.1, 0.0]
    singles = [torch.randn(4, 3, requires_grad=True) for _ in lrs]
    opts = [torch.optim.AdamW([w], lr=lr, weight_decay=wd) for w, lr, wd in zip(singles, lrs, wds)]
    stacked = torch.stack([w.detach().clone() for w in singles]).requires_grad_()
    batched = BatchedAdamW({"w": stacked}, lrs, wds)
    for it in range(30):
        grads = torch.randn(3, 4, 3)
        active = torch.tensor([True, it % 3 != 0, it < 10])
        for w, opt, g, a in zip(singles, opts, grads, active):
            if a:
                w.grad = g.clone()
                opt.step()
        stacked.grad = grads
        batched.step(active)
    for i, w in enumerate(singles):
        assert torch.equal(stacked[i], w)


def test_bad_input_names_the_position(views):
    X, y = views
    est = MMTClassifier(["MEAN", "SE"], max_epochs=1, device="cpu")
    with pytest.raises(ValueError, match="2 estimators but 1 data"):
        fit_many([est, clone(est)], [(X, y)])
    with pytest.raises(TypeError, match="position 1 is a LogisticRegression"):
        fit_many([est, LogisticRegression()], [(X, y), (X, y)])
    with pytest.raises(ValueError, match="positions 0 and 1 hold the same estimator"):
        fit_many([est, est], [(X, y), (X, y)])
    with pytest.raises(ValueError, match="data at position 0 must be"):
        fit_many([est], [X])
    with pytest.raises(ValueError, match="position 1: "):
        fit_many([est, clone(est)], [(X, y), (X, y.iloc[:10])])


def test_group_fits_groups_architectures_and_respects_the_budget(views):
    from radfuse.benchmark.populations import fit_group, group_fits

    X, y = views
    mmt = MMTClassifier(["MEAN", "SE"], max_epochs=1, device="cpu")
    ests = [clone(mmt).set_params(lr=lr, random_state=s) for s, lr in enumerate([1e-3, 3e-3] * 2)]
    ests += [MFNVAEClassifier(max_epochs=1, device="cpu"), clone(mmt).set_params(d_model=16)]
    assert group_fits(ests) == [[0, 1, 2, 3], [4], [5]]
    assert group_fits(ests, max_members=3) == [[0, 1, 2], [3], [4], [5]]
    assert group_fits(ests, n_parameters=1000, n_rows=[100] * 6, memory_budget=8e5) == [
        [0, 1],
        [2, 3],
        [4],
        [5],
    ]
    fitted = fit_group(ests[:2], [(X, y)] * 2, device="cpu")
    assert [e.n_iter_ for e in fitted] == [1, 1]
