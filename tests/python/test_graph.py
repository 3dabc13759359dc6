"""Graph: load, save, print, info, clone, HTML, initializers."""

import numpy as np
import pytest


def test_parse_print_roundtrip(shrink, small_graph):
    # Elided constants print as hashes, so the round trip is checked on the printed form.
    text = small_graph.text()
    assert shrink.parse(small_graph.text()).num_parameters == small_graph.num_parameters
    assert "%w2 = const f32[16,8,3,3] hash(" in text
    assert str(small_graph) == text
    assert "shrink.Graph 'small'" in repr(small_graph)


def test_save_load_onnx_and_mir(shrink, small_graph, tmp_path):
    for name in ("m.onnx", "m.mir"):
        small_graph.save(str(tmp_path / name))
        loaded = shrink.load(tmp_path / name)
        assert loaded.num_parameters == small_graph.num_parameters
    data = small_graph.to_onnx_bytes()
    assert shrink.Graph.from_onnx_bytes(data).num_nodes == small_graph.num_nodes


def test_info_counts_parameters_and_flops(small_graph):
    info = small_graph.info()
    assert info["parameters"] == 8 * 9 + 8 + 16 * 8 * 9 + 16 + 10 * 16 + 10
    assert info["bytes"] == 4 * info["parameters"]
    assert info["flops"] > 2 * 8 * 9 * 64
    assert info["ops"]["Conv"] == 2
    assert info["inputs"] == [("x", "f32[N,1,8,8]")]


def test_clone_is_independent(shrink, small_graph):
    copy = small_graph.clone()
    shrink.run_pass(copy, "prune-channels", ratio=0.5)
    assert copy.num_parameters < small_graph.num_parameters


def test_repr_html(small_graph):
    html = small_graph._repr_html_()
    assert "<table>" in html and "Conv x2" in html and "f32[N,1,8,8]" in html


def test_initializers_are_numpy_views(small_graph):
    inits = small_graph.initializers()
    assert inits["w1"].shape == (8, 1, 3, 3)
    assert inits["w1"].dtype == np.float32
    new = np.zeros((10, 16), np.float32)
    small_graph.set_initializer("w3", new)
    assert np.all(small_graph.initializers()["w3"] == 0)


def test_errors_keep_the_cpp_message(shrink, tmp_path):
    with pytest.raises(shrink.Error, match="nothere.onnx"):
        shrink.load(tmp_path / "nothere.onnx")
    with pytest.raises(shrink.ParseError, match=r"<string>:1:"):
        shrink.parse("graph @g(")
    assert issubclass(shrink.RecipeError, shrink.Error)
    assert issubclass(shrink.Error, RuntimeError)
