"""One shared base for radfuse's PyTorch-backed estimators.

Every torch estimator derives from :class:`TorchClassifierBase` (or :class:`TorchEstimatorBase`)
and adds only its network and its loss. The base owns everything else, once, one module a job:

* parameters: ``_parameter_constraints`` validated by scikit-learn's ``_fit_context``, the shared
  constraints, docs and ``input_modalities`` (:mod:`radfuse.estimators._params`);
* targets, sample and class weights, multi-task scoring (:mod:`radfuse.estimators._targets`);
* device, mixed precision, pickling (:mod:`radfuse.estimators._device`);
* the training loop (:mod:`radfuse.estimators._training`: AdamW, mini-batches by index over
  float32 tensors kept on the device, stages, early stopping, progress bar, ``history_``);
* here: input validation (``validate_data`` with NaN allowed, because a NaN block is a missing
  modality), the modality layout (:meth:`radfuse.modality.ModalityLayout.resolve`), seeding and
  prediction.

Contract for a model
--------------------
A subclass

1. defines ``__init__`` listing *every* parameter (its own and the base ones of
   :data:`~radfuse.estimators._params.BASE_CONSTRAINTS`) and storing them unchanged, and
   ``_parameter_constraints`` (the base's dict merged with its own);
2. overrides :meth:`~TorchEstimatorBase._build_module` (``self -> torch.nn.Module``; it may use
   the fitted attributes ``layout_``, ``n_classes_`` / ``classes_``, ``n_features_in_``,
   ``input_modalities_`` and whatever its ``_prepare_rows`` set) and
   :meth:`~TorchEstimatorBase._loss` (``(module, batch, ctx) -> (loss, parts)``);
3. overrides :meth:`~TorchClassifierBase._predict_output` if the module's forward does not
   return logits (the default applies a softmax to ``module(batch["x"], batch["present"])``);
4. optionally overrides ``_validate_params_extra`` (cross-parameter checks),
   ``_prepare_rows`` (validate or transform rows before training and prediction), ``_stages``
   (staged training), and sets ``_multi_task = True`` (targets of shape ``(n, t)``).

An estimator with an ``input_modalities`` parameter gets ``input_modalities_`` (the blocks the
network reads, in layout order; None: every block) from the base at fit.

The batch
    A ``dict`` of tensors on the training device, rows in the same order in every entry:

    ``"x"``       float32 ``(b, n_features)``, columns in *block order* (block 0's columns, then
                  block 1's, ... as in ``layout_``), NaN replaced by 0.
    ``"present"`` bool ``(b, n_modalities)``: the block holds data in this row (not all NaN).
    ``"y"``       int64 ``(b,)`` encoded labels (``classes_[y]`` is the label); multi-task:
                  ``(b, t)`` with ``-1`` where a task's label is masked. Absent at predict time.
    ``"weight"``  float32, same shape as ``"y"``: sample weight times class weight, normalised to
                  mean 1 over the training rows (per task; 0 where masked). Absent at predict time.
                  Use :func:`radfuse.nn.losses.weighted_mean` so the loss is an unbiased
                  estimate of the weighted mean over the training set.

``_loss(module, batch, ctx)`` (``ctx`` a :class:`~radfuse.estimators._training.FitContext`)
returns ``(loss, parts)``: a scalar tensor to minimise and a ``dict`` of scalar tensors that
``history_`` records as ``train_<part>`` / ``valid_<part>``; keep them tensors (no ``.item()``):
the loop syncs once per epoch, not per batch.

Reproducibility
    ``fit`` derives all seeds from ``random_state``; training runs inside
    ``torch.random.fork_rng`` (dropout masks use the seeded, forked global torch RNG) and shuffling
    uses a local generator, so the global numpy and torch RNGs are left exactly as they were
    (``random_state=None`` draws fresh OS entropy instead of reading the global numpy RNG). Same
    ``random_state`` on CPU gives identical ``predict_proba``. CUDA kernels may be
    nondeterministic.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from radfuse.estimators._device import (
    DevicePickleMixin,
    autocast,
    mixed_precision_dtype,
    resolve_device,
)
from radfuse.estimators._params import BASE_CONSTRAINTS, resolve_input_modalities
from radfuse.estimators._plan import collect, finish, make_plan, train_one
from radfuse.estimators._targets import (
    EncodedTargets,
    check_sample_weight,
    encode_targets,
    multi_task_accuracy,
    row_weights,
    valid_score,
)
from radfuse.estimators._training import FitContext, Rows, Stage, to_numpy, validation_split
from radfuse.modality import ModalityLayout
from radfuse.modality.validation import check_feature_table, check_numeric

__all__ = [
    "FitContext",
    "Rows",
    "Stage",
    "TorchClassifierBase",
    "TorchEstimatorBase",
    "resolve_device",
]

#: Rows per forward pass at predict time (memory bound only; results do not depend on it).
PREDICT_CHUNK = 8192


def _row_labels(X):
    # A DataFrame's index (patient ids) for messages; numpy arrays have an unrelated .index.
    if hasattr(X, "iloc") and hasattr(X, "index"):
        return list(X.index)
    return None


class TorchEstimatorBase(DevicePickleMixin, BaseEstimator):
    """Base of every radfuse torch estimator: validation, layout, seeding, training, prediction.

    Not used directly; see the module docstring for the contract of a subclass, and
    :data:`radfuse.estimators._params.BASE_PARAMETERS_DOC` for the base parameters.
    """

    _parameter_constraints: ClassVar[dict] = dict(BASE_CONSTRAINTS)

    #: Subclasses that accept ``y`` of shape ``(n, t)`` set this to True.
    _multi_task = False

    #: Whether ``fit_many`` may train several of these as one ``torch.func.vmap`` population;
    #: a model whose loss has data-dependent control flow sets this to False.
    _batchable = True

    # -- hooks a model overrides ----------------------------------------------------------------
    def _build_module(self) -> torch.nn.Module:
        raise NotImplementedError

    def _loss(self, module, batch: dict, ctx: FitContext):
        raise NotImplementedError

    def _predict_output(self, module, batch: dict):
        raise NotImplementedError

    def _stages(self) -> list[Stage]:
        """Training stages, run in order (default: one stage on every row and parameter)."""
        return [Stage("train")]

    def _validate_params_extra(self) -> None:
        """Checks across parameters that ``_parameter_constraints`` cannot express (at fit)."""

    def _prepare_rows(self, rows: Rows, *, fit: bool) -> Rows:
        """Validate (or transform) the rows before training (``fit=True``) or prediction.

        Called after ``layout_``, ``input_modalities_``, ``classes_`` (at fit) and the presence
        mask are known. May raise with a message naming the patient and modality, set fitted
        attributes derived from the parameters and the layout (at fit), or return transformed
        rows (at predict it must keep every row, in order).
        """
        return rows

    # -- fitting --------------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Feature table; a whole NaN block is a missing modality.
        y : array-like of shape (n_samples,) (or (n_samples, n_tasks) for multi-task models)
            Targets.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the rows in the loss.

        Returns
        -------
        self
        """
        self._validate_params_extra()
        labels = _row_labels(X)
        name = type(self).__name__
        check_numeric(X, context=name)
        # infinity and NaN are radfuse's checks, which name the patient and the column
        X = validate_data(self, X, reset=True, ensure_all_finite=False, dtype=np.float64)
        self.layout_ = ModalityLayout.resolve(
            self.modalities,
            feature_names=getattr(self, "feature_names_in_", None),
            n_features=self.n_features_in_,
        )
        X, present = check_feature_table(X, self.layout_, context=name, row_labels=labels)
        self.seen_modalities_ = present.any(axis=0)
        y_enc = self._encode_targets(y, n_samples=X.shape[0])
        sw = check_sample_weight(sample_weight, X.shape[0])
        if "input_modalities" in self._parameter_constraints:
            self.input_modalities_ = resolve_input_modalities(self.input_modalities, self.layout_)
        rows = self._prepare_rows(Rows(X, present, y_enc, sw, labels), fit=True)
        self._fit_rows(rows, self._row_weights(rows))
        return self

    def _encode_targets(self, y, *, n_samples):
        raise NotImplementedError

    def _row_weights(self, rows: Rows) -> np.ndarray:
        raise NotImplementedError

    def _stratify(self, y):
        """Labels to stratify the validation split on (None: random split)."""
        return None

    def _valid_score(self, y, output) -> float:
        """Score recorded in ``history_`` for the validation rows (higher is better)."""
        return float("nan")

    def _seeds(self):
        if self.random_state is None:
            # Fresh entropy rather than the global numpy RNG, so fit never moves it.
            rng = np.random.RandomState(np.random.SeedSequence().generate_state(1)[0])
        else:
            rng = check_random_state(self.random_state)
        return [int(s) for s in rng.randint(0, 2**31 - 1, size=3)]

    def _tensors(self, rows: Rows, device, weights=None) -> dict:
        order = np.concatenate(self.layout_.indices)
        x = np.nan_to_num(rows.X[:, order], nan=0.0).astype(np.float32)
        data = {
            "x": torch.as_tensor(x, device=device),
            "present": torch.as_tensor(rows.present, dtype=torch.bool, device=device),
        }
        if rows.y is not None:
            data["y"] = torch.as_tensor(rows.y, dtype=torch.int64, device=device)
        if weights is not None:
            data["weight"] = torch.as_tensor(weights, dtype=torch.float32, device=device)
        return data

    def _split(self, rows: Rows, seed: int):
        if not self.early_stopping:
            idx = np.arange(len(rows))
            return idx, idx[:0]
        return validation_split(
            len(rows), self._stratify(rows.y), self.validation_fraction, seed, type(self).__name__
        )

    def _fit_rows(self, rows: Rows, weights: np.ndarray) -> None:
        # Inside fit_many the plan is handed over and trained with its population.
        if collect(self, rows, weights):
            return
        plan = make_plan(self, rows, weights)
        finish(self, train_one(plan), plan.device)

    # -- prediction -----------------------------------------------------------------------------
    def _predict_rows(self, X):
        """Validated rows of X for prediction (after ``_prepare_rows``)."""
        check_is_fitted(self, "module_")
        labels = _row_labels(X)
        name = type(self).__name__
        check_numeric(X, context=name)
        X = validate_data(self, X, reset=False, ensure_all_finite=False, dtype=np.float64)
        X, present = check_feature_table(
            X,
            self.layout_,
            context=name,
            row_labels=labels,
            training_presence=self.seen_modalities_,
        )
        return self._prepare_rows(Rows(X, present, labels=labels), fit=False)

    def _forward(self, X):
        """``_predict_output`` over X in chunks, as numpy (an array or a list of arrays)."""
        rows = self._predict_rows(X)
        module, device = self.module_, self.device_
        amp_dtype = mixed_precision_dtype(self.mixed_precision, device)
        module.eval()
        outs = []
        data = self._tensors(rows, device)
        with torch.inference_mode():
            for start in range(0, max(len(rows), 1), PREDICT_CHUNK):
                batch = {k: v[start : start + PREDICT_CHUNK] for k, v in data.items()}
                with autocast(device, amp_dtype):
                    outs.append(self._predict_output(module, batch))
        if isinstance(outs[0], (tuple, list)):
            return [np.concatenate([to_numpy(o[j]) for o in outs]) for j in range(len(outs[0]))]
        return np.concatenate([to_numpy(o) for o in outs])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class TorchClassifierBase(ClassifierMixin, TorchEstimatorBase):
    """Base of radfuse's torch classifiers: ``classes_``, ``predict_proba``, ``predict``.

    Single task (default): ``y`` of shape ``(n,)`` with any label type; ``classes_`` an array,
    ``predict_proba`` ``(n, n_classes)``.

    Multi-task (a subclass sets ``_multi_task = True``): ``y`` of shape ``(n, t)``, ``t >= 2``;
    each task's labels are encoded on their own and a masked label (NaN, None, pandas NA or ``-1``)
    becomes ``-1`` in ``batch["y"]`` (so in multi-task mode ``-1`` cannot be a real label).
    ``classes_`` is then a list of ``t`` arrays, ``n_classes_`` a list of ints, ``predict_proba`` a
    list of ``t`` arrays ``(n, n_classes_[j])``, ``predict`` an array ``(n, t)`` and ``score`` the
    mean over tasks of the accuracy on labelled rows. ``class_weight`` may then be a list with one
    entry per task. ``_predict_output`` must return a tuple of ``t`` probability tensors.
    """

    def _encode_targets(self, y, *, n_samples):
        enc = encode_targets(
            y, n_samples=n_samples, multi_task=self._multi_task, name=type(self).__name__
        )
        self.classes_, self.n_classes_, self.n_tasks_ = enc.classes, enc.n_classes, enc.n_tasks
        return enc.y

    def _row_weights(self, rows: Rows) -> np.ndarray:
        enc = EncodedTargets(rows.y, self.classes_, self.n_classes_, self.n_tasks_)
        return row_weights(enc, rows.sample_weight, self.class_weight, name=type(self).__name__)

    def _fit_rows(self, rows, weights):
        # Zero-weight rows contribute nothing to the loss; leaving them out keeps mini-batches
        # (and so the fit) the same as if they were not passed. Multi-task rows are all kept: a
        # row without any label can still serve a model's unsupervised loss terms.
        keep = weights > 0 if weights.ndim == 1 else np.ones(len(weights), dtype=bool)
        if not keep.all():
            rows, weights = rows.take(keep), weights[keep]
        super()._fit_rows(rows, weights)

    def _stratify(self, y):
        return y if y.ndim == 1 else None

    def _valid_score(self, y, output) -> float:
        return valid_score(y, output)

    def _predict_output(self, module, batch):
        logits = module(batch["x"], batch["present"])
        return torch.softmax(logits.float(), dim=-1)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or a list of one such array per task
        """
        out = self._forward(X)
        if isinstance(out, list):
            return [_normalise(p) for p in out]
        return _normalise(out)

    def predict(self, X):
        """Most probable class of each row (``(n, t)`` for multi-task models)."""
        proba = self.predict_proba(X)
        if isinstance(proba, list):
            return np.column_stack([c[np.argmax(p, axis=1)] for c, p in zip(self.classes_, proba)])
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            if isinstance(proba, list):
                return [np.log(p) for p in proba]
            return np.log(proba)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy (multi-task: mean over tasks of the accuracy on labelled rows)."""
        if not (self._multi_task and isinstance(self.classes_, list)):
            return super().score(X, y, sample_weight=sample_weight)
        return multi_task_accuracy(self.predict(X), y, sample_weight)


def _normalise(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return p / p.sum(axis=1, keepdims=True)
