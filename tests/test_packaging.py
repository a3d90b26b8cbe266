"""The installed environment and the built wheel carry what radfuse needs."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import radfuse

ROOT = Path(__file__).resolve().parents[1]


def test_version_and_lazy_public_names():
    assert radfuse.__version__.count(".") == 2
    assert radfuse.ModalityLayout is radfuse.modality.ModalityLayout
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        radfuse.nope


def test_lbp_dependencies_import():
    # PyRadiomics silently skips LBP2D without scikit-image and LBP3D without trimesh.
    import radiomics
    import skimage.feature
    import trimesh

    assert hasattr(skimage.feature, "local_binary_pattern")
    assert trimesh.__version__
    assert radiomics.__version__


def test_cli_help_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "radfuse.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"radfuse {radfuse.__version__}"
    out = subprocess.run(
        [sys.executable, "-m", "radfuse.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for command in ("extract", "bench", "report", "specs"):
        assert command in out.stdout


def test_wheel_contains_specs_and_benchmark_configs(tmp_path):
    pytest.importorskip("hatchling")
    out = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("radfuse-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = sorted(p.name for p in (ROOT / "feature_specs").glob("*.yaml"))
    configs = sorted(p.name for p in (ROOT / "benchmarks").glob("*.yaml"))
    for name in specs:
        assert f"radfuse/_data/feature_specs/{name}" in names
    for name in configs:
        assert f"radfuse/_data/benchmarks/{name}" in names
    assert "radfuse/modality/__init__.py" in names
