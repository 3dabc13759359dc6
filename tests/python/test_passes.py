"""Every registered pass as a typed Python function; pipelines; the pass manager."""

import numpy as np
import pytest


def test_every_registered_pass_has_a_function(shrink):
    names = shrink.pass_names()
    assert {"dce", "lowrank", "prune-channels", "fold-batchnorm"} <= set(names)
    for name in names:
        fn = getattr(shrink.passes, name.replace("-", "_"))
        assert name in fn.__doc__


def test_options_are_typed_and_documented(shrink):
    info = shrink.pass_info("lowrank")
    types = {o["key"]: o["type"] for o in info["options"]}
    assert types["ratio"] == "number" and types["whiten"] == "bool"
    assert "ratio: float" in shrink.passes.lowrank.__doc__
    with pytest.raises(TypeError, match="option 'whiten' must be a bool"):
        shrink.passes.lowrank(shrink.parse("graph @g(%x: f32[2]) {\n  return %x\n}\n"),
                              whiten="yes")


def test_function_and_run_pass_and_text_agree(shrink, small_graph):
    a, b, c = small_graph.clone(), small_graph.clone(), small_graph.clone()
    shrink.passes.prune_channels(a, ratio=0.5, criterion="l2")
    shrink.run_pass(b, "prune-channels", ratio=0.5, criterion="l2")
    shrink.run(c, "prune-channels{ratio=0.5,criterion=l2}")
    assert a.text() == b.text() == c.text()
    assert a.num_parameters < small_graph.num_parameters


def test_unknown_options_and_passes_suggest(shrink, small_graph):
    with pytest.raises(shrink.RecipeError, match=r"did you mean 'ratio'"):
        shrink.run_pass(small_graph, "lowrank", ratoi=0.5)
    with pytest.raises(shrink.RecipeError, match=r"did you mean 'fold-batchnorm'"):
        shrink.run(small_graph, "fold-batchnrom")


def test_needs_are_checked(shrink, small_graph):
    with pytest.raises(shrink.RecipeError, match="needs calibration data"):
        shrink.passes.lowrank(small_graph, ratio=0.5, whiten=True)


def test_pass_manager_with_context_and_report(shrink, small_graph, workspace):
    pm = shrink.PassManager().add("fold-batchnorm").add("lowrank", ratio=0.5, whiten=True,
                                                         force=True)
    assert pm.text == "fold-batchnorm,lowrank{force=true,ratio=0.5,whiten=true}"
    calib = shrink.npy_data([str(workspace / "x.npy")])
    ctx = shrink.Context(calibration=calib, progress=False)
    pm.validate(ctx)
    report = pm.run(small_graph, ctx)
    names = [p["name"] for p in report["passes"] if not p["automatic"]]
    assert names == ["fold-batchnorm", "lowrank"]
    assert report["params_after"] < report["params_before"]


def test_list_options(shrink, small_graph):
    # A list option reaches the pass as a list: excluding every layer leaves the graph alone,
    # excluding both convolutions factorizes only the classifier into two layers.
    untouched = small_graph.clone()
    shrink.passes.lowrank(untouched, ratio=0.5, force=True, exclude=["c1", "c2", "y"])
    assert untouched.num_parameters == small_graph.num_parameters
    report = shrink.passes.lowrank(small_graph, ratio=0.5, force=True, exclude=("c1", "c2"))
    assert report["passes"][-1]["changed"]
    assert small_graph.num_nodes == untouched.num_nodes + 1
    after = small_graph.initializers()
    for name, array in untouched.initializers().items():
        if name != "w3":
            assert (after[name] == array).all()
    assert "w3" not in after
    with pytest.raises(shrink.RecipeError, match="matches no"):
        shrink.passes.lowrank(small_graph, ratio=0.5, exclude=["nothing"])


def test_progress_callback_is_called(shrink, workspace):
    g = shrink.load(workspace / "model.onnx")
    calls = []
    data = shrink.npy_data([str(workspace / "x.npy")], str(workspace / "y.npy"))
    r = shrink.evaluate(g, data, batch_size=8, progress=lambda d, t, s: calls.append((d, t)))
    assert calls and calls[-1] == (32, 32)
    assert r["samples"] == 32


def test_signatures_and_python_names(shrink, small_graph):
    import inspect
    sig = inspect.signature(shrink.passes.prune_channels)
    assert sig.parameters["ratio"].annotation is float
    assert "min_channels" in sig.parameters and "global_" in sig.parameters
    a, b = small_graph.clone(), small_graph.clone()
    shrink.passes.prune_channels(a, ratio=0.5, global_=True, min_channels=2)
    shrink.run(b, "prune-channels{ratio=0.5,global=true,min-channels=2}")
    assert a.text() == b.text()


def test_quantization_helpers_from_python(shrink, small_graph, workspace):
    # equalize: lossless, and it finds the c1 -> Relu -> c2 pair.
    x = np.random.default_rng(2).uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32)
    before = shrink.reference().run(small_graph, [x])[0]
    g = small_graph.clone()
    report = shrink.passes.equalize(g)
    assert [p["stats"]["pairs"] for p in report["passes"] if p["name"] == "equalize"] == [1]
    np.testing.assert_allclose(shrink.reference().run(g, [x])[0], before, rtol=1e-5, atol=1e-5)
    # bias correction and smooth-quant take the same calibration data as quantize.
    calib = shrink.npy_data([str(workspace / "x.npy")])
    ctx = shrink.Context(calibration=calib, progress=False)
    pm = shrink.PassManager().add("smooth-quant").add("quantize", bias_correction=True)
    report = pm.run(g, ctx)
    stats = {p["name"]: p["stats"] for p in report["passes"] if not p["automatic"]}
    assert stats["quantize"]["bias_corrected_layers"] >= 2
    with pytest.raises(shrink.RecipeError, match="smooth-quant needs calibration data"):
        shrink.passes.smooth_quant(small_graph.clone())
