"""The `shrink` command line: run, eval, bench, convert; --help, exit codes, --json, --quiet."""

import json

import pytest
from conftest import run_cli

RECIPE = """model: model.onnx
data:
  eval: {source: npy, inputs: x.npy, labels: y.npy}
steps:
  - prune-channels: {ratio: 0.5}
output: out/model.onnx
report: out/report.json
"""


@pytest.mark.parametrize("command", ["run", "eval", "bench", "convert", "info", "opt"])
def test_help_exits_0(command):
    r = run_cli(command, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: shrink " + command)


def test_usage_errors_exit_2():
    assert run_cli("run").returncode == 2
    r = run_cli("eval", "m.onnx", "--dat", "x")
    assert r.returncode == 2 and "did you mean --data" in r.stderr
    assert run_cli("bench", "m.onnx", "--batch", "zero").returncode == 2
    assert run_cli("convert", "a.onnx", "b.txt").returncode == 2
    assert run_cli("rnu").returncode == 2


def test_run_prints_a_table_writes_files_and_json(workspace):
    (workspace / "r.yaml").write_text(RECIPE)
    r = run_cli("run", workspace / "r.yaml")
    assert r.returncode == 0, r.stderr
    assert "prune-channels" in r.stdout and "accuracy" in r.stdout
    assert (workspace / "out" / "model.onnx").exists()
    report = json.loads((workspace / "out" / "report.json").read_text())
    assert report["steps"][0]["pass"] == "prune-channels"

    r = run_cli("run", workspace / "r.yaml", "--json", "--set", "prune-channels.ratio=0.25",
                "--set", "output=out/q.onnx")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["steps"][0]["options"] == {"ratio": "0.25"}
    assert j["output"]["path"].endswith("out/q.onnx")

    r = run_cli("run", workspace / "r.yaml", "--quiet")
    assert r.returncode == 0 and r.stdout == ""


def test_run_bad_recipe_exits_1_with_the_problem(workspace):
    (workspace / "r.yaml").write_text(RECIPE.replace("prune-channels", "prune-chanels"))
    r = run_cli("run", workspace / "r.yaml")
    assert r.returncode == 1
    assert "did you mean 'prune-channels'" in r.stderr
    r = run_cli("run", workspace / "r.yaml", "--dry-run", "--set", "nonsense=1")
    assert r.returncode == 1 and "--set nonsense: unknown key" in r.stderr


def test_eval(workspace):
    spec = "npy{inputs=%s,labels=%s}" % (workspace / "x.npy", workspace / "y.npy")
    r = run_cli("eval", workspace / "model.onnx", "--data", spec, "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["metric"] == "accuracy" and j["samples"] == 32 and 0 <= j["value"] <= 1
    r = run_cli("eval", workspace / "model.onnx", "--data", spec, "--quiet",
                "--executor", "reference")
    assert abs(float(r.stdout) - j["value"]) < 1e-9
    r = run_cli("eval", workspace / "model.onnx", "--data", spec, "--metric", "acuracy")
    assert r.returncode == 1 and "accuracy" in r.stderr


def test_bench(workspace):
    r = run_cli("bench", workspace / "model.onnx", "--batch", "2", "--iterations", "5",
                "--warmup", "1", "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["results"][0]["variant"] == "fp32" and j["results"][0]["median_ms"] > 0
    r = run_cli("bench", workspace / "model.onnx", "--iterations", "3", "--threads", "1")
    assert r.returncode == 0 and "median ms" in r.stdout
    r = run_cli("bench", workspace / "model.onnx", "--iterations", "3", "--threads", "1",
                "--profile")
    assert r.returncode == 0, r.stderr
    assert "plan of fp32, 1 thread(s):" in r.stdout and "ms/run" in r.stdout
    assert "nodes after cleanup" in r.stdout
    r = run_cli("bench", workspace / "model.onnx", "--iterations", "3", "--threads", "1",
                "--no-cleanup", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["cleanup"] is False


def test_bench_int8_when_quantize_is_registered(workspace):
    if "quantize" not in run_cli("passes").stdout:
        pytest.skip("no quantize pass in this build")
    r = run_cli("bench", workspace / "model.onnx", "--int8", "--iterations", "3",
                "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert [x["variant"] for x in json.loads(r.stdout)["results"]] == ["fp32", "int8"]


def test_convert(workspace):
    r = run_cli("convert", workspace / "model.onnx", workspace / "m.mir")
    assert r.returncode == 0, r.stderr
    assert (workspace / "m.mir").read_text().startswith("graph @")
    r = run_cli("convert", workspace / "m.mir", workspace / "back.onnx", "--opset", "13")
    assert r.returncode == 0, r.stderr
    r = run_cli("info", workspace / "back.onnx", "--json")
    assert json.loads(r.stdout)["nodes"] == 7
    assert run_cli("convert", workspace / "missing.onnx", workspace / "x.mir").returncode == 1
