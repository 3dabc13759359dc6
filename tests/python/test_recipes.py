"""Recipes and reports from Python."""

import json

import pytest

RECIPE = """model: model.onnx
data:
  calibration: {source: npy, inputs: x.npy, samples: 16}
  eval: {source: npy, inputs: x.npy, labels: y.npy, batch_size: 8}
steps:
  - prune-channels: {ratio: 0.5}
  - lowrank: {ratio: 0.5, whiten: true, force: true}
output: out/model.onnx
report: out/report.json
seed: 1
"""


def write(workspace, text=RECIPE):
    path = workspace / "recipe.yaml"
    path.write_text(text)
    return str(path)


def test_run_recipe_returns_the_report_it_wrote(shrink, workspace):
    steps = []
    report = shrink.run_recipe(write(workspace), progress=False,
                               on_step=lambda i, name, *rest: steps.append((i, name)))
    assert steps == [(-1, "input"), (0, "prune-channels"), (1, "lowrank")]
    on_disk = json.loads((workspace / "out" / "report.json").read_text())
    assert on_disk == report.data
    assert [r[1] for r in report.rows()] == ["input", "prune-channels", "lowrank"]
    assert report.steps[0]["params"] < report["input"]["params"]
    assert report.metric_name == "accuracy"
    assert set(report.data) == {"recipe", "input", "data", "steps", "output", "versions", "seed"}
    assert set(report.steps[0]) == {"pass", "options", "seconds", "params", "bytes", "flops",
                                    "metric", "latency_ms"}
    # No latency_batch in the recipe: no latency measured.
    assert report.steps[0]["latency_ms"] is None
    assert "<table>" in report._repr_html_()
    assert "prune-channels" in repr(report)
    assert "| 1 | `prune-channels{ratio=0.5}`" in report.markdown


def test_same_seed_same_bytes(shrink, workspace):
    path = write(workspace)
    shrink.run_recipe(path, progress=False)
    first = (workspace / "out" / "model.onnx").read_bytes()
    shrink.run_recipe(path, ["output=out/again.onnx"], progress=False)
    assert (workspace / "out" / "again.onnx").read_bytes() == first


def test_recipe_object_and_spellings(shrink, workspace):
    r = shrink.Recipe.load(write(workspace), ["prune-channels.ratio=0.25"])
    assert r.pipeline.startswith("prune-channels{ratio=0.25}")
    assert r.model == str(workspace / "model.onnx")
    assert shrink._shrink.steps_yaml_to_pipeline(r.steps_yaml) == r.pipeline
    assert set(r.data) == {"calibration", "eval"}


def test_invalid_recipes_raise_with_every_problem(shrink, workspace):
    bad = RECIPE.replace("model:", "modle:").replace("lowrank:", "lowrnak:")
    with pytest.raises(shrink.RecipeError) as e:
        shrink.run_recipe(write(workspace, bad), progress=False)
    msg = str(e.value)
    assert "did you mean 'model'" in msg and "did you mean 'lowrank'" in msg


def test_plot_accuracy_vs_size(shrink, workspace):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    report = shrink.run_recipe(write(workspace), progress=False)
    ax = report.plot("bytes")
    xs, ys = ax.lines[0].get_data()
    assert len(xs) == 3 and list(ys) == [r[5] for r in report.rows()]
    ax.figure.savefig(workspace / "plot.png")
    assert (workspace / "plot.png").stat().st_size > 1000


def test_sensitivity_table_and_plot(shrink, small_graph, workspace):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    calib = shrink.npy_data([str(workspace / "x.npy")])
    evald = shrink.npy_data([str(workspace / "x.npy")], str(workspace / "y.npy"))
    before = small_graph.text()
    s = shrink.sensitivity(small_graph, shrink.Context(calibration=calib, eval=evald,
                                                        progress=False))
    assert small_graph.text() == before
    assert {r["node"] for r in s.layers} == {"c1", "c2", "y"}
    sqnr = [r["sqnr_db"] for r in s.layers]
    assert sqnr == sorted(sqnr) and all(v > 10 for v in sqnr)
    assert all("metric" in r for r in s.layers)
    assert "<table>" in s._repr_html_() and "SQNR" in repr(s)
    ax = s.plot()
    assert len(ax.patches) == 3
