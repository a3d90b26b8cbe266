"""MFNVAEClassifier: per-modality VAEs, one model per modality subset."""

import numpy as np
import pytest
import torch
from torch import nn

from radfuse.datasets import load_breast_cancer_views
from radfuse.estimators import MFNVAEClassifier
from radfuse.nn.mfnvae import MFNVAE

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def views():
    X, y = load_breast_cancer_views()
    X = (X - X.mean()) / X.std()
    rows = np.random.default_rng(1).permutation(len(y))[:240]
    return X.iloc[rows], y.iloc[rows]


def small(**kw):
    params = dict(
        encoder_dims=(32,), latent_dim=8, max_epochs=10, lr=3e-3, device="cpu", random_state=0
    )
    params.update(kw)
    return MFNVAEClassifier(**params)


def blank(X, modality, rows=slice(None)):
    X = X.copy()
    X.iloc[rows, [X.columns.get_loc(c) for c in X.columns if c.startswith(modality + "__")]] = (
        np.nan
    )
    return X


def test_fit_predict_all_views(views):
    X, y = views
    est = small().fit(X, y)
    assert est.input_modalities_ == ["MEAN", "SE", "WORST"]
    assert est.score(X, y) > 0.9
    first, last = est.history_[0], est.history_[-1]
    assert {"train_ce", "train_mse", "train_kl"} <= set(first)
    assert last["train_mse"] < first["train_mse"]
    assert est.transform_latent(X).shape == (len(y), 3 * 8)
    assert len(est.module_.encoders) == 3


def test_subset_model_ignores_other_blocks(views):
    X, y = views
    est = small(input_modalities=["WORST", "MEAN"]).fit(blank(X, "SE", rows=slice(0, 50)), y)
    assert est.input_modalities_ == ["MEAN", "WORST"]  # block order of X
    np.testing.assert_array_equal(est.predict_proba(blank(X, "SE")), est.predict_proba(X))


def test_missing_input_modality_is_a_clear_error(views):
    X, y = views
    est = small(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=rf"patient {X.index[2]!r} lacks 'SE'.*one MFN-VAE per"):
        est.predict(blank(X, "SE", rows=slice(2, 3)))
    with pytest.raises(ValueError, match="training row"):
        small().fit(blank(X, "MEAN", rows=slice(0, 1)), y)
    with pytest.raises(ValueError, match="which X does not have"):
        small(input_modalities="DWI").fit(X, y)


def test_decoder_is_linear_and_reaches_standardised_values(views):
    X, y = views
    est = small(max_epochs=30, kl_weight=1e-4).fit(X, y)
    for dec in est.module_.decoders:
        assert isinstance(dec[-1], nn.Linear)  # no Tanh: standardised values exceed +-1
    x = torch.tensor(X.to_numpy(), dtype=torch.float32)
    with torch.no_grad():
        recon = est.module_.eval()(x)[1][0]
    assert recon.abs().max() > 2.0
    target = x[:, :10]
    assert (recon - target).pow(2).mean() < 0.5 * target.pow(2).mean()


def test_reparameterize_switch():
    torch.manual_seed(0)
    x = torch.randn(6, 8)
    det = MFNVAE([4, 4], 2, [0, 1], latent_dim=3, reparameterize=False, dropout=0.0).train()
    torch.testing.assert_close(det(x)[0], det(x)[0])  # deterministic in training
    vae = MFNVAE([4, 4], 2, [0, 1], latent_dim=3, reparameterize=True, dropout=0.0).train()
    assert (vae(x)[0] - vae(x)[0]).abs().max() > 0  # sampled latents
    vae.eval()
    torch.testing.assert_close(vae(x)[0], vae(x)[0])  # posterior mean at evaluation


def test_deterministic_given_random_state(views):
    X, y = views
    a = small(max_epochs=3, random_state=4).fit(X, y).predict_proba(X)
    b = small(max_epochs=3, random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
