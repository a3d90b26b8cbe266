"""Parameters of the torch estimators: constraints, shared docs, input_modalities, loop state."""

import inspect

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from radfuse.datasets import load_breast_cancer_views
from radfuse.estimators import GMENetClassifier, MFNVAEClassifier, MMTClassifier
from radfuse.estimators._params import BASE_CONSTRAINTS
from radfuse.estimators._training import EarlyStopping, Member

torch.set_num_threads(1)

ESTIMATORS = [MMTClassifier, MFNVAEClassifier, GMENetClassifier]
_GM_TINY = dict(d_model=16, n_tokens=4, attn_dim=8, n_heads=2, max_epochs=2, device="cpu")


@pytest.fixture(scope="module")
def views():
    X, y = load_breast_cancer_views()
    X = (X - X.mean()) / X.std()
    return X.iloc[:120], y.iloc[:120]


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_every_parameter_has_a_constraint_and_a_doc(cls):
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert params == set(cls._parameter_constraints)
    assert set(BASE_CONSTRAINTS) <= params
    assert "input_modalities" in params
    doc = cls.__doc__
    assert "{base_parameters}" not in doc
    defaults = cls().get_params()
    for name in params:
        assert f"\n    {name} : " in doc, f"{cls.__name__} does not document {name}"
    for name in BASE_CONSTRAINTS:
        assert f"{name} : " in doc and f"default={defaults[name]!r}" in doc


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("max_epochs", True),  # True is not an integer
        ("batch_size", 0),
        ("lr", 0.0),
        ("lr", float("inf")),
        ("weight_decay", -1.0),
        ("validation_fraction", 1.0),
        ("mixed_precision", "fp8"),
        ("progress", 1),
        ("early_stopping", "yes"),
    ],
)
def test_invalid_base_parameters(views, cls, param, value):
    X, y = views
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter of {cls.__name__}"):
        cls(**{param: value}).fit(X, y)


@pytest.mark.parametrize(
    ("cls", "params", "match"),
    [
        (MMTClassifier, {"d_model": True}, "'d_model' parameter"),
        (MMTClassifier, {"recon_weight": -1.0}, "'recon_weight' parameter"),
        (MMTClassifier, {"clf_weight": "big"}, "'clf_weight' parameter"),
        (MFNVAEClassifier, {"latent_dim": True}, "'latent_dim' parameter"),
        (MFNVAEClassifier, {"head_dims": 64}, "'head_dims' parameter"),
        (GMENetClassifier, {"n_heads": True}, "'n_heads' parameter"),
        (GMENetClassifier, {"attn_dim": 10, "n_heads": 4}, "attn_dim=10 must be divisible"),
        (GMENetClassifier, {"loss": "focal"}, "'loss' parameter"),
        (GMENetClassifier, {"input_modalities": 3}, "'input_modalities' parameter"),
    ],
)
def test_invalid_model_parameters(views, cls, params, match):
    X, y = views
    with pytest.raises(ValueError, match=match):
        cls(**params).fit(X, y)


def test_mfnvae_head_dims_builds_the_same_predictor():
    from radfuse.nn.mfnvae import MFNVAE

    torch.manual_seed(0)
    a = MFNVAE([3, 4], 2, [0, 1], head_dims=(64,))
    assert [type(m).__name__ for m in a.predictor] == [
        "Linear",
        "LayerNorm",
        "GELU",
        "Dropout",
        "Linear",
    ]
    assert a.predictor[0].out_features == 64
    assert len(MFNVAE([3, 4], 2, [0, 1], head_dims=()).predictor) == 1


def test_gmenet_input_modalities(views):
    X, y = views
    est = GMENetClassifier(("MEAN", "SE"), random_state=0, **_GM_TINY).fit(X, y)
    assert est.input_modalities_ == ["MEAN", "SE"]
    proba = est.predict_proba(X)
    # WORST is blanked (generated) at predict time: its values do not matter.
    Xw = X.copy()
    Xw[[c for c in X.columns if c.startswith("WORST__")]] = np.nan
    np.testing.assert_array_equal(est.predict_proba(Xw), proba)
    # The default reads every block, so WORST changes the prediction.
    full = GMENetClassifier(random_state=0, **_GM_TINY).fit(X, y)
    assert not np.array_equal(full.predict_proba(Xw), full.predict_proba(X))
    # A row without any input modality cannot be classified.
    Xn = X.copy()
    Xn.loc[X.index[2], [c for c in X.columns if not c.startswith("WORST__")]] = np.nan
    with pytest.raises(ValueError, match=rf"{X.index[2]!r}.* none of the input modalities"):
        est.predict_proba(Xn)
    with pytest.raises(ValueError, match="names \\['T2'\\], which X does not have"):
        GMENetClassifier(["T2"], **_GM_TINY).fit(X, y)


def test_early_stopping_state_restores_the_best_weights():
    module = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(tol=0.0, patience=2)
    assert not stopper.step(1.0, module)
    best = {k: v.clone() for k, v in module.state_dict().items()}
    with torch.no_grad():
        module.weight.add_(1.0)
    assert not stopper.step(2.0, module)
    assert stopper.step(3.0, module)  # two epochs without improvement
    stopper.restore(module)
    assert all(torch.equal(v, best[k]) for k, v in module.state_dict().items())
    member = Member(module)
    member.record({"epoch": 1})
    assert member.n_epochs == 1 and member.history == [{"epoch": 1}]
