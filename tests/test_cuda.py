"""CUDA: fit on the GPU, pickle, load and predict on a CPU-only process (skipped without a GPU)."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from radfuse.datasets import load_breast_cancer_views
from radfuse.estimators import GMENetClassifier, MFNVAEClassifier, MMTClassifier
from radfuse.estimators._device import mixed_precision_dtype

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def views():
    X, y = load_breast_cancer_views()
    return (X - X.mean()) / X.std(), y


@pytest.mark.parametrize(
    "est",
    [
        MMTClassifier(["MEAN", "SE"], max_epochs=20, device="cuda", random_state=0),
        MMTClassifier(None, interaction="sdpa", max_epochs=20, device="cuda", random_state=0),
        MFNVAEClassifier(max_epochs=20, device="cuda", mixed_precision=False, random_state=0),
        GMENetClassifier(max_epochs=20, device="cuda", mixed_precision="auto", random_state=0),
    ],
    ids=["mmt-2m", "mmt-any-sdpa", "mfnvae-fp32", "gmenet-bf16"],
)
def test_fit_on_cuda_predict_on_cpu(views, est, tmp_path):
    X, y = views
    est.fit(X, y)
    assert est.device_.type == "cuda"
    assert next(est.module_.parameters()).device.type == "cuda"
    assert all(np.isfinite(h["train_loss"]) for h in est.history_)
    proba_gpu = est.predict_proba(X)
    assert est.score(X, y) > 0.9
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(est))
    # The fitted estimator still lives on the GPU after pickling.
    assert next(est.module_.parameters()).device.type == "cuda"

    # A process that sees no GPU loads the model and predicts on the CPU.
    np.save(tmp_path / "X.npy", X.to_numpy())
    code = (
        "import pickle, sys, numpy as np, pandas as pd, torch\n"
        "assert not torch.cuda.is_available()\n"
        "est = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "assert est.device_.type == 'cpu'\n"
        "assert next(est.module_.parameters()).device.type == 'cpu'\n"
        "X = pd.DataFrame(np.load(sys.argv[2]), columns=est.feature_names_in_)\n"
        "np.save(sys.argv[3], est.predict_proba(X))\n"
    )
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": pythonpath}
    subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "X.npy"), str(tmp_path / "p.npy")],
        check=True,
        env=env,
        timeout=300,
    )
    proba_cpu = np.load(tmp_path / "p.npy")
    # bf16 autocast on the GPU vs float32 on the CPU.
    tol = 1e-4 if est.mixed_precision is False else 5e-2
    np.testing.assert_allclose(proba_cpu, proba_gpu, atol=tol)
    assert np.mean(proba_cpu.argmax(1) == proba_gpu.argmax(1)) > 0.97


def test_mixed_precision_modes(views):
    X, y = views
    est = MMTClassifier(["MEAN"], max_epochs=3, device="cuda", random_state=0)
    assert mixed_precision_dtype("auto", torch.device("cuda")) in (torch.bfloat16, torch.float16)
    for mp in ("fp16", "bf16", False):
        est.set_params(mixed_precision=mp).fit(X, y)
        assert np.isfinite(est.history_[-1]["train_loss"])
        assert est.predict_proba(X).shape == (len(y), 2)


def test_fit_many_on_cuda_predicts_on_cpu(views):
    from sklearn.base import clone

    from radfuse.estimators import fit_many

    X, y = views
    base = MMTClassifier(["MEAN", "SE"], max_epochs=5, dropout=0.0, random_state=0)
    ests = [clone(base).set_params(random_state=s, lr=lr) for s, lr in enumerate([1e-3, 2e-3])]
    fit_many(ests, [(X, y)] * 2, device="cuda")
    for e in ests:
        assert e.device_.type == "cuda"
        own = clone(e).set_params(device="cpu").fit(X, y)
        back = pickle.loads(pickle.dumps(e))
        back.module_.to("cpu")
        back.device_ = torch.device("cpu")
        np.testing.assert_allclose(back.predict_proba(X), own.predict_proba(X), atol=1e-3)
