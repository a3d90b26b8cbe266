"""Feature specs: shipped files valid under PyRadiomics' schema, loading, listing, CLI."""

from __future__ import annotations

import types

import pykwalify.core
import pytest
import yaml
from radiomics import getParameterValidationFiles

from radfuse.extraction import feature_names, list_specs, load_spec
from radfuse.extraction.cli import run_specs
from radfuse.extraction.specs import spec_dirs

SHIPPED = ["ct_all_filters", "mri_all_filters", "mri_original", "reference_all_filters"]
NINE_FAMILIES = {
    "Original",
    "Wavelet",
    "LoG",
    "Square",
    "SquareRoot",
    "Logarithm",
    "Exponential",
    "Gradient",
    "LBP2D",
    "LBP3D",
}


def test_list_specs_names_and_descriptions():
    specs = list_specs()
    assert list(specs) == SHIPPED
    for name, desc in specs.items():
        assert len(desc) > 20, name
        assert "\n" not in desc


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_passes_pyradiomics_schema(name):
    path = next(d / f"{name}.yaml" for d in spec_dirs() if (d / f"{name}.yaml").is_file())
    schema, funcs = getParameterValidationFiles()
    core = pykwalify.core.Core(source_file=str(path), schema_files=[schema], extensions=[funcs])
    assert core.validate(raise_exception=True)
    text = path.read_text()
    assert text.count("#") >= 3  # commented: why these settings


@pytest.mark.parametrize("name", ["ct_all_filters", "mri_all_filters", "reference_all_filters"])
def test_all_filter_specs_enable_nine_families(name):
    assert set(load_spec(name).image_types) == NINE_FAMILIES


def test_mri_specs_normalise():
    for name in ["mri_all_filters", "mri_original"]:
        setting = load_spec(name).params["setting"]
        assert setting["normalize"] is True and setting["binWidth"] > 0
    assert load_spec("ct_all_filters").params["setting"]["normalize"] is False


def test_load_spec_from_path_and_dict(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("# my spec\nsetting:\n  binWidth: 10\nimageType:\n  Original: {}\n")
    spec = load_spec(path)
    assert spec.name == "mine" and spec.description == "my spec"
    assert load_spec(str(path)).params == spec.params
    from_dict = load_spec({"setting": {"binWidth": 10}, "imageType": {"Original": {}}})
    assert from_dict.fingerprint() == spec.fingerprint()


def test_unknown_spec_lists_the_shipped_ones():
    with pytest.raises(ValueError, match=r"Unknown feature spec 'mri_all'.*mri_all_filters"):
        load_spec("mri_all")


def test_invalid_setting_rejected_by_schema(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"setting": {"binWidth": -1, "nonsense": 3}}))
    with pytest.raises(ValueError, match="not a valid PyRadiomics parameter file"):
        load_spec(path)


def test_fingerprint_changes_with_one_setting():
    base = load_spec("mri_original")
    params = {**base.params, "setting": {**base.params["setting"], "binWidth": 11}}
    assert load_spec(params).fingerprint() != base.fingerprint()
    # the same settings written differently (a default made explicit) resolve the same
    same = {**base.params, "setting": {**base.params["setting"], "padDistance": 5}}
    assert load_spec(same).fingerprint() == base.fingerprint()


def test_feature_names_counts():
    assert len(feature_names("reference_all_filters")) == 1874
    names = feature_names("mri_original")
    assert len(names) == 107 and names[0].startswith("original_shape_")
    assert any(n.startswith("lbp-3D-k_") for n in feature_names("mri_all_filters"))


def test_radfuse_specs_prints_all(capsys):
    assert run_specs(types.SimpleNamespace()) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == SHIPPED
