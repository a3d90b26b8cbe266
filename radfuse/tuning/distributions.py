"""Search-space distributions: Optuna objects, or plain dicts a YAML config can hold.

A parameter's distribution is one of

* an Optuna distribution (``FloatDistribution``, ``IntDistribution``,
  ``CategoricalDistribution``), used as given;
* ``{"low": a, "high": b}``: uniform on ``[a, b]``; integers when ``a`` and ``b`` are both ints;
* ``{"low": a, "high": b, "log": True}``: log-uniform (``a > 0``);
* ``{"low": a, "high": b, "step": s}``: the grid ``a, a + s, ...`` up to ``b`` (integers when
  ``a``, ``b`` and ``s`` are ints);
* ``{"choices": [...]}`` or a plain list: one of the values. Values Optuna cannot store (tuples,
  lists, dicts, estimators) are searched under their ``repr`` and handed to the estimator as
  given (cloned), so ``head_dims: {choices: [[64], [128, 64]]}`` works.

Parameter names are the estimator's ``get_params(deep=True)`` names (``mmt__lr``,
``select__k``, ``estimator__C``), checked before any fit.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import clone

__all__ = ["SearchSpace", "check_param_distributions", "to_distribution"]

_RANGE_KEYS = ("low", "high", "log", "step")
_KEYS = (*_RANGE_KEYS, "choices")
# The choice types Optuna stores as themselves; anything else is searched under a label.
_PLAIN = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class SearchSpace:
    """A checked search space: what Optuna samples, and how to turn a sample into parameters.

    Attributes
    ----------
    distributions : dict of str to optuna.distributions.BaseDistribution
        One Optuna distribution per parameter name, in the order given.
    labels : dict of str to dict
        For a categorical parameter with values Optuna cannot store: label -> value.
    """

    distributions: dict[str, BaseDistribution]
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)

    def decode(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        """Estimator parameters for an Optuna ``trial.params`` (labels replaced, values cloned).

        Parameters
        ----------
        sample : mapping of str to object
            One value per parameter name, as Optuna returns them.

        Returns
        -------
        params : dict
            Fresh copies, so that no two candidates share a mutable value.
        """
        params = {}
        for name in self.distributions:
            value = sample[name]
            if name in self.labels:
                value = self.labels[name][value]
            params[name] = clone(value, safe=False)
        return params


def _where(name: str) -> str:
    return f"param_distributions[{name!r}]"


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _categorical(name: str, choices) -> tuple[CategoricalDistribution, dict[str, Any] | None]:
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
        raise TypeError(
            f"{_where(name)}: 'choices' must be a list of values, got {type(choices).__name__} "
            f"{choices!r}."
        )
    if len(choices) == 0:
        raise ValueError(f"{_where(name)}: 'choices' is empty; give at least one value.")
    if all(isinstance(c, _PLAIN) for c in choices):
        return CategoricalDistribution(list(choices)), None
    labels: dict[str, Any] = {}
    for value in choices:
        label = repr(value)
        if label in labels:
            raise ValueError(
                f"{_where(name)}: two choices look the same ({label}); give distinct values."
            )
        labels[label] = value
    return CategoricalDistribution(list(labels)), labels


def _range(name: str, spec: Mapping[str, Any]) -> BaseDistribution:
    missing = [key for key in ("low", "high") if key not in spec]
    if missing:
        raise ValueError(
            f"{_where(name)}: missing {' and '.join(map(repr, missing))}; a range needs both "
            "'low' and 'high' (or give 'choices')."
        )
    low, high = spec["low"], spec["high"]
    log, step = spec.get("log", False), spec.get("step")
    for key, value in (("low", low), ("high", high)):
        if not _is_number(value):
            # PyYAML reads 1e-4 (no dot) as a string: say so, it is the usual cause.
            hint = " (YAML reads 1e-4 as text; write 1.0e-4)" if isinstance(value, str) else ""
            raise TypeError(f"{_where(name)}: {key!r} must be a number, got {value!r}{hint}.")
    if not isinstance(log, bool):
        raise TypeError(f"{_where(name)}: 'log' must be true or false, got {log!r}.")
    if step is not None and not (_is_number(step) and step > 0):
        raise ValueError(f"{_where(name)}: 'step' must be a number > 0, got {step!r}.")
    if low > high:
        raise ValueError(f"{_where(name)}: low={low!r} is greater than high={high!r}.")
    if log and step is not None:
        raise ValueError(f"{_where(name)}: give 'log' or 'step', not both.")
    integer = _is_int(low) and _is_int(high) and (step is None or _is_int(step))
    if log and low <= 0:
        raise ValueError(f"{_where(name)}: log=True needs low > 0, got low={low!r}.")
    if integer:
        return IntDistribution(int(low), int(high), log=log, step=1 if step is None else int(step))
    return FloatDistribution(
        float(low), float(high), log=log, step=None if step is None else float(step)
    )


def to_distribution(name: str, spec) -> tuple[BaseDistribution, dict[str, Any] | None]:
    """Convert one parameter's distribution to an Optuna distribution.

    Parameters
    ----------
    name : str
        The parameter's name (used in error messages).
    spec : optuna.distributions.BaseDistribution, dict or list
        See the module docstring for the accepted forms.

    Returns
    -------
    distribution : optuna.distributions.BaseDistribution
    labels : dict of str to object or None
        For choices Optuna cannot store: label -> value; otherwise ``None``.

    Raises
    ------
    ValueError or TypeError
        Naming the parameter: an unknown key, ``low > high``, ``log`` with ``low <= 0``, an
        empty ``choices``, or a spec of another type.
    """
    if isinstance(spec, BaseDistribution):
        return spec, None
    if isinstance(spec, list):
        return _categorical(name, spec)
    if not isinstance(spec, Mapping):
        raise TypeError(
            f"{_where(name)}: expected an Optuna distribution, a dict with 'low'/'high' "
            f"(and 'log' or 'step') or 'choices', or a list of choices; got "
            f"{type(spec).__name__} {spec!r}."
        )
    unknown = [key for key in spec if key not in _KEYS]
    if unknown:
        raise ValueError(
            f"{_where(name)}: unknown key(s) {', '.join(map(repr, unknown))}; expected "
            f"{', '.join(map(repr, _KEYS))}."
        )
    if "choices" in spec:
        extra = [key for key in spec if key != "choices"]
        if extra:
            raise ValueError(
                f"{_where(name)}: 'choices' cannot be combined with {', '.join(map(repr, extra))}."
            )
        return _categorical(name, spec["choices"])
    return _range(name, spec), None


def check_param_distributions(param_distributions, estimator=None) -> SearchSpace:
    """Convert and check a whole search space, before any fit.

    Parameters
    ----------
    param_distributions : dict of str to distribution
        Parameter name -> distribution (see the module docstring).
    estimator : estimator or None
        When given, every name must be one of ``estimator.get_params(deep=True)``.

    Returns
    -------
    SearchSpace
    """
    if not isinstance(param_distributions, Mapping):
        raise TypeError(
            "param_distributions must be a dict of parameter name -> distribution, got "
            f"{type(param_distributions).__name__}."
        )
    if not param_distributions:
        raise ValueError("param_distributions is empty: give at least one parameter to search.")
    known = set(estimator.get_params(deep=True)) if estimator is not None else None
    distributions, labels = {}, {}
    for name, spec in param_distributions.items():
        if not isinstance(name, str):
            raise TypeError(f"param_distributions: parameter names must be str, got {name!r}.")
        if known is not None and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"{_where(name)}: {type(estimator).__name__} has no parameter {name!r} "
                f"(names are those of estimator.get_params(deep=True)).{hint}"
            )
        distributions[name], choice_labels = to_distribution(name, spec)
        if choice_labels is not None:
            labels[name] = choice_labels
    return SearchSpace(distributions, labels)
