"""Training speed of radfuse's torch loop against a bare PyTorch loop and skorch, same module.

For MMT-2M (``interaction="channel"`` and ``"sdpa"``), MMT any-subset and MFN-VAE on a
279 x (3 x 32) table (``make_multimodal_classification``), 200 epochs, batch 32, it times

* ``radfuse``: ``estimator.fit(X, y)`` (validation, seeding, tensors, training, everything);
* ``bare``: a hand-written loop over the *same* module and loss (float32 tensors on the device,
  ``randperm`` mini-batches by index, AdamW), the fastest honest loop;
* ``skorch``: ``skorch.NeuralNet`` over the same module and loss (when skorch is installed).

Each fit runs ``--repeats`` times (alternating the loops) and the minimum is reported. Mixed
precision is off (the estimators' default) so the three loops do the same arithmetic; on CUDA
a ``radfuse-amp`` column shows ``mixed_precision="bf16"``.

    python benchmarks/train_speed.py [--device cpu|cuda|both] [--epochs 200] [--repeats 2]

CPU runs use one torch thread (the models are small; more threads only add overhead).

Measured (radfuse seconds / bare seconds, 200 epochs, default hyper-parameters):

* CPU (2-core shared VM, torch 2.13, min of 2): MMT-2M channel 5.00 / 4.87 (1.027), MMT-2M sdpa
  5.09 / 4.98 (1.021), MMT any-subset 7.89 / 7.88 (1.001), MFN-VAE 4.26 / 4.22 (1.010);
  radfuse / skorch 0.87-0.89.
* CUDA (H100, torch 2.11, one run each): MMT-2M channel 15.23 / 14.55 (1.046), sdpa
  15.40 / 14.84 (1.038), any-subset 17.65 / 16.80 (1.051), MFN-VAE 16.45 / 14.62 (1.125). An
  earlier run (``d_model=64``) gave 0.92-1.15 for the MMT rows, radfuse / skorch 0.83-1.01 and
  bf16 autocast 1.1-1.25x slower: these networks are kernel-launch bound on a GPU, single GPU
  runs vary by about +-10 %, and the GPU is not faster than one CPU core for tables this small.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from radfuse.datasets import make_multimodal_classification
from radfuse.estimators import MFNVAEClassifier, MMTClassifier
from radfuse.estimators.base import FitContext, Stage


def configs():
    return {
        "MMT-2M channel": MMTClassifier(["T1WI", "FLAIR"], interaction="channel"),
        "MMT-2M sdpa": MMTClassifier(["T1WI", "FLAIR"], interaction="sdpa"),
        "MMT any-subset channel": MMTClassifier(None, interaction="channel"),
        "MFN-VAE": MFNVAEClassifier(),
    }


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(est, X, y, device):
    """The fitted estimator's own tensors (block order, NaN -> 0)."""
    from radfuse.estimators.base import Rows

    Xa = X.to_numpy()
    rows = Rows(Xa, est.layout_.presence_mask(Xa), np.searchsorted(est.classes_, y))
    return est._tensors(rows, device, np.ones(len(y)))


def bare_fit(est, X, y, device, epochs, batch_size=32):
    """Plain PyTorch: the same module and loss, no framework."""
    torch.manual_seed(0)
    module = est._build_module().to(device)
    data = _data(est, X, y, device)
    x, present, yt, w = data["x"], data["present"], data["y"], data["weight"]
    opt = torch.optim.AdamW(module.parameters(), lr=est.lr, weight_decay=est.weight_decay)
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    ctx = FitContext(Stage(), 0, True, gen, device)
    n = x.shape[0]
    is_mmt = isinstance(est, MMTClassifier)
    module.train()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen, device=device)
        for s in range(0, n, batch_size):
            idx = perm[s : s + batch_size]
            xb, pb, yb, wb = x[idx], present[idx], yt[idx], w[idx]
            if is_mmt:
                if module.fixed:
                    avail, mask = None, pb[:, module.missing_ids]
                else:
                    avail = est._availability(pb, ctx)
                    mask = pb & ~avail
                logits, recon = module(xb, avail)
                loss, _ = module.loss(
                    logits, recon, xb, mask, yb, wb, est._recon_weight_, est.clf_weight
                )
            else:
                out = module(xb)
                loss, _ = module.loss(out, xb, yb, wb, est.kl_weight, est.clf_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    _sync(device)
    return time.perf_counter() - t0


def skorch_fit(est, X, y, device, epochs, batch_size=32):
    """skorch.NeuralNet over the same module, with the model's loss in get_loss."""
    from skorch import NeuralNet

    is_mmt = isinstance(est, MMTClassifier)
    if is_mmt and not est.module_.fixed:
        return float("nan")  # modality dropout needs the estimator's generator; not comparable

    class Net(NeuralNet):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            xb = X["x"].to(self.device)
            yb = y_true.to(self.device)
            wb = torch.ones(len(yb), device=self.device)
            if is_mmt:
                logits, recon = y_pred
                mask = torch.ones(
                    len(yb), len(self.module_.missing_ids), dtype=torch.bool, device=self.device
                )
                return self.module_.loss(
                    logits, recon, xb, mask, yb, wb, est._recon_weight_, est.clf_weight
                )[0]
            return self.module_.loss(y_pred, xb, yb, wb, est.kl_weight, est.clf_weight)[0]

    torch.manual_seed(0)
    data = _data(est, X, y, torch.device("cpu"))
    net = Net(
        module=est._build_module(),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        optimizer__weight_decay=est.weight_decay,
        lr=est.lr,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        iterator_train__shuffle=True,
        device=str(device),
        verbose=0,
    )
    _sync(device)
    t0 = time.perf_counter()
    net.fit({"x": data["x"].numpy()}, data["y"].numpy())
    _sync(device)
    return time.perf_counter() - t0


def radfuse_fit(est, X, y, device, epochs, amp=False):
    est = est.set_params(
        max_epochs=epochs,
        device=str(device),
        random_state=0,
        mixed_precision="bf16" if amp else False,
    )
    _sync(device)
    t0 = time.perf_counter()
    est.fit(X, y)
    _sync(device)
    return time.perf_counter() - t0


def _population(args, X, y):
    """``--population N``: N fits (5 folds x N/5 learning rates) via fit_many vs sequential."""
    import os
    import resource

    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from radfuse.estimators import GMENetClassifier, fit_many

    torch.set_num_threads(1)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    lrs = np.geomspace(3e-4, 3e-3, max(1, args.population // 5))
    models = {**configs(), "GMENet": GMENetClassifier(max_epochs=args.epochs)}
    for name, proto in models.items():
        if args.models and name not in args.models:
            continue
        if args.breast_views and name.startswith("MMT-2M"):
            proto = clone(proto).set_params(input_modalities=["MEAN", "SE"])
        ests, data, tests = [], [], []
        for j, lr in enumerate(lrs):
            for k, (tr, te) in enumerate(folds):
                ests.append(
                    clone(proto).set_params(
                        max_epochs=args.epochs, lr=float(lr), random_state=7 * j + k, device="cpu"
                    )
                )
                data.append((X.iloc[tr], y[tr]))
                tests.append(te)
        t0 = time.perf_counter()
        fit_many(ests, data)
        t_pop = time.perf_counter() - t0
        n_seq = min(args.sequential, len(ests))
        seq = [clone(e) for e in ests[:n_seq]]
        t0 = time.perf_counter()
        for e, d in zip(seq, data):
            e.fit(*d)
        t_seq = (time.perf_counter() - t0) / n_seq
        auc = [
            roc_auc_score(y[te], e.predict_proba(X.iloc[te])[:, 1]) for e, te in zip(ests, tests)
        ]
        auc_seq = [
            roc_auc_score(y[te], e.predict_proba(X.iloc[te])[:, 1]) for e, te in zip(seq, tests)
        ]
        gap = np.mean(np.abs(np.subtract(auc[:n_seq], auc_seq)))
        print(
            f"{name:24} {len(ests)} members: fit_many {t_pop:.1f} s "
            f"({len(ests) / t_pop:.2f} fits/s), "
            f"sequential {t_seq:.2f} s/fit ({1 / t_seq:.2f} fits/s, {n_seq} timed): "
            f"{t_seq * len(ests) / t_pop:.1f}x; mean |AUC gap| {gap:.4f} over {n_seq}; "
            f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "both"])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", nargs="*", help="subset of the model names (default: all)")
    parser.add_argument("--no-amp", action="store_true", help="skip the bf16 column on CUDA")
    parser.add_argument(
        "--population", type=int, help="time N fits via fit_many against sequential fits (CPU)"
    )
    parser.add_argument(
        "--sequential", type=int, default=5, help="sequential fits timed in --population mode"
    )
    parser.add_argument(
        "--breast-views", action="store_true", help="--population on the breast-cancer views"
    )
    args = parser.parse_args(argv)
    try:
        import skorch  # noqa: F401

        have_skorch = True
    except ImportError:
        have_skorch = False
    X, y = make_multimodal_classification(n_samples=279, random_state=0)
    if args.breast_views:
        from radfuse.datasets import load_breast_cancer_views

        X, y = load_breast_cancer_views()
    X = StandardScaler().set_output(transform="pandas").fit_transform(X)
    y = np.asarray(y)
    if args.population:
        return _population(args, X, y)
    devices = ["cpu", "cuda"] if args.device == "both" else [args.device]
    print(
        f"torch {torch.__version__}, X {X.shape}, {args.epochs} epochs, batch 32, "
        f"min of {args.repeats}"
    )
    header = (
        f"{'device':6} {'model':24} {'radfuse s':>9} {'bare s':>8} {'ratio':>6} "
        f"{'skorch s':>9} {'radfuse/skorch':>14} {'radfuse-amp s':>13}"
    )
    print(header)
    for dev_name in devices:
        device = torch.device(dev_name)
        if device.type == "cpu":
            torch.set_num_threads(1)
        for name, est in configs().items():
            if args.models and name not in args.models:
                continue
            # Fitted attributes (layout, classes, alpha) the bare loops need.
            est.set_params(max_epochs=1, device=dev_name, random_state=0).fit(X, y)
            times = {"radfuse": [], "bare": [], "skorch": [], "amp": []}
            for _ in range(args.repeats):
                times["bare"].append(bare_fit(est, X, y, device, args.epochs))
                times["radfuse"].append(radfuse_fit(est, X, y, device, args.epochs))
                if have_skorch:
                    times["skorch"].append(skorch_fit(est, X, y, device, args.epochs))
                if device.type == "cuda" and not args.no_amp:
                    times["amp"].append(radfuse_fit(est, X, y, device, args.epochs, amp=True))
            t = {k: min(v) if v else float("nan") for k, v in times.items()}
            print(
                f"{dev_name:6} {name:24} {t['radfuse']:9.2f} {t['bare']:8.2f} "
                f"{t['radfuse'] / t['bare']:6.3f} {t['skorch']:9.2f} "
                f"{t['radfuse'] / t['skorch']:14.3f} {t['amp']:13.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
