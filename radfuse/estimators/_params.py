"""Parameters shared by the torch estimators: constraints, documentation, ``input_modalities``.

The base parameters are declared and documented once here; each estimator merges
:data:`BASE_CONSTRAINTS` into its ``_parameter_constraints`` and composes
:data:`BASE_PARAMETERS_DOC` into its docstring with :func:`document_base_parameters`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, Options, StrOptions

from radfuse.modality import ModalityLayout

__all__ = [
    "BASE_CONSTRAINTS",
    "BASE_PARAMETERS_DOC",
    "INPUT_MODALITIES_CONSTRAINT",
    "NumberInterval",
    "document_base_parameters",
    "fraction",
    "lacking_inputs",
    "non_negative",
    "positive",
    "positive_int",
    "resolve_input_modalities",
    "weight_per_target",
]


class NumberInterval(Interval):
    """scikit-learn's :class:`Interval`, except that a bool is not a number.

    ``Interval(Integral, ...)`` accepts ``True`` (bool subclasses int); radfuse's one rule is
    that ``True`` is neither an integer nor a real parameter value.
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def positive_int() -> NumberInterval:
    """An integer >= 1."""
    return NumberInterval(Integral, 1, None, closed="left")


def non_negative() -> NumberInterval:
    """A finite real >= 0."""
    return NumberInterval(Real, 0, np.inf, closed="left")


def positive() -> NumberInterval:
    """A finite real > 0."""
    return NumberInterval(Real, 0, np.inf, closed="neither")


def fraction(closed: str = "left") -> NumberInterval:
    """A real in [0, 1) (``closed="left"``) or (0, 1) (``closed="neither"``)."""
    return NumberInterval(Real, 0, 1, closed=closed)


#: The blocks a network reads: None (every block / any subset present), a name or names.
INPUT_MODALITIES_CONSTRAINT = [None, str, list, tuple]

BASE_CONSTRAINTS: dict = {
    "modalities": [list, tuple, dict, str, None],
    "max_epochs": [positive_int()],
    "batch_size": [positive_int()],
    "lr": [positive()],
    "weight_decay": [non_negative()],
    "early_stopping": ["boolean"],
    "validation_fraction": [fraction("neither")],
    "n_iter_no_change": [positive_int()],
    "tol": [NumberInterval(Real, -np.inf, np.inf, closed="neither")],
    "class_weight": [None, StrOptions({"balanced"}), dict],
    "device": [str, torch.device, None],
    "mixed_precision": [StrOptions({"auto", "bf16", "fp16"}), Options(bool, {False}), None],
    "random_state": ["random_state"],
    "progress": ["boolean"],
}

#: numpydoc entries of the base parameters; ``{name}`` fields are filled with the defaults.
BASE_PARAMETERS_DOC = """\
    modalities : None, str, list of str or dict, default={modalities}
        Column-to-block layout of X (:meth:`radfuse.modality.ModalityLayout.resolve`): None
        infers the blocks from ``"<MODALITY>__<feature>"`` column names (a plain array is one
        block), a list names the blocks in order, a dict maps each block to its columns.
    max_epochs : int, default={max_epochs}
        Training epochs (per stage, unless a stage sets its own).
    batch_size : int, default={batch_size}
        Rows per mini-batch (the last batch of an epoch may be smaller).
    lr : float, default={lr}
        AdamW learning rate.
    weight_decay : float, default={weight_decay}
        AdamW decoupled weight decay.
    early_stopping : bool, default={early_stopping}
        Hold out ``validation_fraction`` of the rows (stratified for a single task), stop a
        stage when the validation loss has not improved by ``tol`` for ``n_iter_no_change``
        epochs, and restore the weights of the best epoch.
    validation_fraction : float in (0, 1), default={validation_fraction}
        Share of the rows held out for early stopping.
    n_iter_no_change : int, default={n_iter_no_change}
        Epochs without improvement before early stopping ends a stage.
    tol : float, default={tol}
        Smallest decrease of the validation loss that counts as an improvement.
    class_weight : None, "balanced" or dict, default={class_weight}
        Weights of the classes in the loss, on top of ``sample_weight`` (``"balanced"``: inverse
        weighted class frequencies; multi-task: a list with one entry per task).
    device : "auto", "cpu", "cuda", "cuda:N", "mps" or torch.device, default={device}
        Where to train and predict; ``"auto"`` is CUDA when available, else the CPU. A GPU that
        was asked for but is not available raises (no silent fallback).
    mixed_precision : "auto", "bf16", "fp16" or False, default={mixed_precision}
        Autocast on CUDA: ``"auto"`` uses bf16 where the GPU supports it (else fp16 with a
        gradient scaler) and nothing on the CPU; ``"bf16"`` / ``"fp16"`` require a CUDA device.
        Off by default: these networks are small and kernel-launch bound, and bf16 autocast made
        a 279 x 96 MMT fit about 20% slower on an H100 (``benchmarks/train_speed.py``).
    random_state : None, int or RandomState, default={random_state}
        Seeds the weight initialisation, shuffling, dropout, the model's own random draws and
        the validation split; the global numpy and torch RNGs are left untouched. The same
        value gives identical ``predict_proba`` on the CPU.
    progress : bool, default={progress}
        Show a tqdm progress bar per training stage with the losses.
"""

_MARK = "    {base_parameters}\n"


def _doc_entries(doc: str, keep) -> str:
    """The entries of a numpydoc parameter list whose name passes ``keep``."""
    out, skip = [], False
    for line in doc.splitlines(keepends=True):
        if line.startswith("    ") and not line.startswith("     "):
            skip = not keep(line.strip().split(" :", 1)[0])
        if not skip:
            out.append(line)
    return "".join(out)


def document_base_parameters(cls):
    """Class decorator: put :data:`BASE_PARAMETERS_DOC` at ``{base_parameters}`` in the docstring.

    The defaults come from the class's ``__init__`` signature, so the documentation cannot drift
    from the code; a base parameter the class does not take (a survival model has no
    ``class_weight``) is left out.
    """
    defaults = {
        k: repr(p.default)
        for k, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    if _MARK not in (cls.__doc__ or ""):
        raise TypeError(f"{cls.__name__}'s docstring has no '{{base_parameters}}' line.")
    doc = _doc_entries(BASE_PARAMETERS_DOC, lambda name: name in defaults).format(**defaults)
    cls.__doc__ = cls.__doc__.replace(_MARK, doc)
    return cls


def resolve_input_modalities(input_modalities, layout: ModalityLayout) -> list[str]:
    """The blocks a network reads, in layout order (None: every block of the layout)."""
    if input_modalities is None:
        return list(layout.names)
    names = [input_modalities] if isinstance(input_modalities, str) else input_modalities
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in layout.names]
    if unknown:
        raise ValueError(
            f"input_modalities={names!r} names {unknown}, which X does not have; X has "
            f"modalities {list(layout.names)} (from the '<MODALITY>__<feature>' column prefixes "
            "or modalities=)."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"input_modalities={names!r} lists a modality twice.")
    if not names:
        raise ValueError("input_modalities is empty; name at least one modality, or use None.")
    return [m for m in layout.names if m in names]


def lacking_inputs(present: np.ndarray, rows, inputs: Sequence[str], names: Sequence[str]):
    """``"patient 'P1' lacks 'SE'; ..."`` for rows missing an input block, or None if none is.

    ``present`` is the rows' presence mask over ``names`` (the layout's blocks); ``rows`` gives
    the patient labels.
    """
    lacking = ~present[:, [list(names).index(m) for m in inputs]]
    if not lacking.any():
        return None
    r, c = np.nonzero(lacking)
    parts = [f"patient {rows.label(i)!r} lacks {inputs[j]!r}" for i, j in list(zip(r, c))[:5]]
    more = f" ({len(r) - 5} more)" if len(r) > 5 else ""
    return "; ".join(parts) + more


def weight_per_target(recon_weight, targets: Sequence[str]) -> list[float]:
    """``recon_weight`` (a float, or a mapping modality -> float) as one weight per target."""
    if isinstance(recon_weight, Mapping):
        unknown = [m for m in recon_weight if m not in targets]
        if unknown:
            raise ValueError(
                f"recon_weight names {unknown}, which are not reconstructed; the reconstructed "
                f"modalities are {list(targets)}."
            )
        weights = [float(recon_weight.get(m, 0.0)) for m in targets]
    else:
        weights = [float(recon_weight)] * len(targets)
    if any(not np.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"recon_weight must be finite and >= 0, got {recon_weight!r}.")
    return weights
