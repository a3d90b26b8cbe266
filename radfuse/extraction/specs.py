"""Feature specs: PyRadiomics parameter files shipped with radfuse.

A spec is a PyRadiomics parameter file (YAML with ``setting``, ``imageType``, ``featureClass``)
whose first comment line is a one-line description. Shipped specs live in ``feature_specs/`` at
the top of the repository, copied into the wheel as ``radfuse/_data/feature_specs``.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from radfuse._utils.hashing import json_digest
from radfuse._utils.resources import data_dirs

__all__ = [
    "FeatureSpec",
    "check_filter_settings",
    "list_specs",
    "load_spec",
    "spec_dirs",
    "validate_params",
]

_SPEC_SUFFIXES = (".yaml", ".yml")


def spec_dirs() -> list[Path]:
    """Folders searched for shipped specs, in order.

    The wheel's ``radfuse/_data/feature_specs`` first, then ``<repo>/feature_specs`` (an
    editable install or a source checkout).
    """
    return data_dirs("feature_specs")


def _description(text: str) -> str:
    """The first comment line of a YAML file (without ``#``), or ``""``."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        break
    return ""


def validate_params(params: dict, source: str = "spec") -> dict:
    """Validate a PyRadiomics parameter dict with PyRadiomics' own schema.

    Returns the validated dict. Raises ``ValueError`` naming ``source`` and PyRadiomics'
    messages when the schema rejects it.
    """
    import logging

    import pykwalify.core
    from pykwalify.errors import PyKwalifyException
    from radiomics import getParameterValidationFiles

    if not isinstance(params, dict):
        raise ValueError(
            f"{source}: a feature spec must be a mapping with 'setting', 'imageType' and/or "
            f"'featureClass', got {type(params).__name__}."
        )
    schema_file, schema_funcs = getParameterValidationFiles()
    logging.getLogger("pykwalify").setLevel(logging.CRITICAL)
    core = pykwalify.core.Core(
        source_data=copy.deepcopy(params), schema_files=[schema_file], extensions=[schema_funcs]
    )
    try:
        validated = core.validate(raise_exception=True)
    except PyKwalifyException as exc:
        raise ValueError(
            f"{source} is not a valid PyRadiomics parameter file: {exc.msg}. See "
            "https://pyradiomics.readthedocs.io/en/latest/customization.html"
        ) from None
    check_filter_settings(validated, source)
    return validated


def check_filter_settings(params: dict, source: str = "spec") -> None:
    """Check what an enabled image type needs beyond PyRadiomics' schema.

    The schema accepts settings with which a filter cannot run; PyRadiomics then only logs a
    warning and every case would fail later with a message about the image. Checked here, per
    enabled image type (its own settings over ``setting``): LoG needs a non-empty ``sigma``
    list; Wavelet needs a discrete wavelet (``pywt.wavelist(kind="discrete")``: the stationary
    transform cannot use a continuous one); ``resegmentRange`` has one or two values.

    Raises
    ------
    ValueError
        Naming ``source``, the image type and the setting.
    """
    import pywt

    settings = params.get("setting") or {}
    problems = []
    for image_type, custom in (params.get("imageType") or {}).items():
        merged = {**settings, **(custom or {})}
        if image_type == "LoG" and not merged.get("sigma"):
            problems.append(
                "imageType 'LoG' needs 'sigma', a non-empty list of positive numbers (mm), e.g. "
                "sigma: [1.0, 3.0, 5.0] under 'setting' or under 'imageType: LoG'"
            )
        wavelet = merged.get("wavelet", "coif1")
        if image_type == "Wavelet" and wavelet not in pywt.wavelist(kind="discrete"):
            problems.append(
                f"imageType 'Wavelet': 'wavelet: {wavelet}' is not a discrete wavelet; use one "
                "of pywt.wavelist(kind='discrete'), e.g. coif1, db2, haar, sym4"
            )
    reseg = settings.get("resegmentRange")
    if reseg is not None and len(reseg) not in (1, 2):
        problems.append(
            f"setting 'resegmentRange' must have one or two values (lower[, upper]), got {reseg}"
        )
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems) + ".")


@dataclass(frozen=True)
class FeatureSpec:
    """A validated PyRadiomics parameter set.

    Attributes
    ----------
    name : str
        Spec name (file stem, or ``"custom"`` for a dict).
    params : dict
        The parameter dict as written (``setting``, ``imageType``, ``featureClass``).
    description : str
        One line (the file's first comment).
    source : str or None
        File the spec was read from.
    """

    name: str
    params: dict
    description: str = ""
    source: str | None = None
    _resolved: dict = field(default=None, repr=False, compare=False)

    def resolved(self) -> dict:
        """Settings, image types and feature classes after PyRadiomics applies its defaults.

        This is what the cache key is built from: two specs that PyRadiomics runs identically
        resolve identically.
        """
        if self._resolved is None:
            from radiomics import featureextractor

            ex = featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(self.params))
            resolved = {
                "setting": ex.settings,
                "imageType": ex.enabledImagetypes,
                "featureClass": {k: (v or []) for k, v in ex.enabledFeatures.items()},
            }
            object.__setattr__(self, "_resolved", json.loads(json.dumps(resolved, default=str)))
        return copy.deepcopy(self._resolved)

    def fingerprint(self) -> str:
        """SHA-256 of the resolved settings (canonical JSON)."""
        return json_digest(self.resolved())

    @property
    def image_types(self) -> list[str]:
        """Enabled image types (filter families)."""
        return list(self.resolved()["imageType"])


def _find(name: str) -> Path | None:
    for folder in spec_dirs():
        for suffix in _SPEC_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    return None


def load_spec(name_or_path) -> FeatureSpec:
    """Load a feature spec by name, path, dict or :class:`FeatureSpec`.

    Parameters
    ----------
    name_or_path : str, path, dict or FeatureSpec
        A shipped spec name (see :func:`list_specs`), a path to a PyRadiomics YAML parameter
        file, or a parameter dict.

    Returns
    -------
    FeatureSpec
        Validated by PyRadiomics' parameter schema.

    Raises
    ------
    ValueError
        Unknown name (the known ones are listed) or a file / dict the schema rejects.
    """
    if isinstance(name_or_path, FeatureSpec):
        return name_or_path
    if isinstance(name_or_path, dict):
        params = validate_params(name_or_path, "spec dict")
        return FeatureSpec("custom", params, "custom parameter dict", None)
    text_name = os.fspath(name_or_path)
    path = Path(text_name).expanduser()
    if not path.is_file():
        found = _find(text_name) if path.suffix.lower() not in _SPEC_SUFFIXES else None
        if found is None:
            raise ValueError(
                f"Unknown feature spec {text_name!r}: not a file and not a shipped spec. "
                f"Shipped specs: {', '.join(list_specs())}. Pass one of these names or the "
                "path to a PyRadiomics parameter file (YAML)."
            )
        path = found
    text = path.read_text()
    try:
        params = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"Feature spec {path} is not valid YAML: {exc}") from None
    params = validate_params(params, f"Feature spec {path}")
    return FeatureSpec(path.stem, params, _description(text), str(path))


def list_specs() -> dict[str, str]:
    """Shipped feature specs: ``{name: one-line description}``, sorted by name."""
    out: dict[str, str] = {}
    for folder in spec_dirs():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in _SPEC_SUFFIXES and path.stem not in out:
                out[path.stem] = _description(path.read_text())
    return dict(sorted(out.items()))
