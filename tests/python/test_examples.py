"""The examples: every recipe in examples/recipes validates, and the Python example runs."""

import glob
import os
import subprocess
import sys

import pytest
from conftest import SOURCE_DIR, run_cli

RECIPES = sorted(glob.glob(os.path.join(SOURCE_DIR, "examples", "recipes", "*.yaml")))
FMNIST = os.path.isdir(os.environ.get("SHRINK_DATA_DIR", "/usr/share/datasets/fashion-mnist"))


@pytest.mark.parametrize("recipe", RECIPES, ids=os.path.basename)
def test_recipe_validates(recipe):
    r = run_cli("run", recipe, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout


@pytest.mark.skipif(not FMNIST, reason="dataset-fashion-mnist is not installed")
def test_python_example_runs(tmp_path):
    script = os.path.join(SOURCE_DIR, "examples", "python", "compress_fmnist.py")
    r = subprocess.run([sys.executable, script, "--eval-samples", "100",
                        "--calibration-samples", "16", "--out", str(tmp_path), "--no-recipe"],
                       capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines[:5]] == ["input", "fold-batchnorm",
                                                       "prune-channels", "lowrank", "quantize"]
    assert (tmp_path / "model.onnx").stat().st_size > 100000


@pytest.mark.skipif(not FMNIST, reason="dataset-fashion-mnist is not installed")
def test_notebook_code_cells_run(tmp_path, monkeypatch):
    import json

    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    monkeypatch.setenv("SHRINK_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("SHRINK_SOURCE_DIR", SOURCE_DIR)
    monkeypatch.setenv("SHRINK_NOTEBOOK_OUT", str(tmp_path))
    with open(os.path.join(SOURCE_DIR, "examples", "python", "walkthrough.ipynb")) as f:
        notebook = json.load(f)
    namespace = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "walkthrough.ipynb", "exec"), namespace)
    report = namespace["report"]
    assert [s["pass"] for s in report.steps] == ["fold-batchnorm", "prune-channels", "distill",
                                                 "quantize"]
    assert (tmp_path / "model.onnx").exists() and (tmp_path / "report.json").exists()
    assert report.steps[-1]["bytes"] < report["input"]["bytes"] / 4
