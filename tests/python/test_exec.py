"""Executors with numpy arrays, data sources, evaluation."""

import numpy as np
import pytest


def test_reference_and_onednn_agree(shrink, small_graph):
    x = np.random.default_rng(1).uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32)
    ref = shrink.reference().run(small_graph, [x])[0]
    fast = shrink.onednn(threads=1).run(small_graph, x)[0]
    assert ref.shape == (4, 10)
    np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-4)
    for mode in ("on", "off", "auto"):
        out = shrink.onednn(threads=1, winograd=mode).run(small_graph, x)[0]
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="winograd"):
        shrink.onednn(winograd="sometimes")


def test_outputs_share_memory_with_the_result_tensor(shrink, small_graph):
    x = np.zeros((2, 1, 8, 8), np.float32)
    out = shrink.reference().run(small_graph, [x], fetch=["r1"])
    assert len(out) == 2 and out[1].shape == (2, 8, 8, 8)
    # The array views the C++ tensor: numpy does not own the buffer.
    assert not out[0].flags["OWNDATA"]


def test_input_errors_are_exceptions(shrink, small_graph):
    with pytest.raises(shrink.Error, match="input"):
        shrink.reference().run(small_graph, [np.zeros((2, 3), np.float32)])
    with pytest.raises(shrink.Error, match="not supported"):
        shrink.reference().run(small_graph, [np.zeros((2, 1, 8, 8), np.complex64)])


def test_data_sources(shrink, workspace):
    d = shrink.data("npy{inputs=%s,labels=%s}" % (workspace / "x.npy", workspace / "y.npy"))
    assert len(d) == 32
    inputs, labels = d.batch(0, 5)
    assert inputs[0].shape == (5, 1, 8, 8) and labels.tolist() == [0, 7, 4, 1, 8]
    arrays = shrink.array_data(np.zeros((6, 1, 8, 8), np.float32), np.arange(6))
    assert len(arrays) == 6
    it = shrink.iterable_data((np.ones((3, 1, 8, 8), np.float32), np.arange(3)) for _ in range(4))
    assert len(it) == 12
    assert len(shrink.random_subset(d, 10, 3)) == 10


def test_iterable_data_takes_torch_tensors(shrink):
    torch = pytest.importorskip("torch")
    d = shrink.iterable_data([(torch.zeros(2, 1, 8, 8), torch.tensor([1, 2]))])
    assert d.batch(0, 2)[1].tolist() == [1, 2]


def test_evaluate_accuracy(shrink, small_graph, workspace):
    data = shrink.npy_data([str(workspace / "x.npy")], str(workspace / "y.npy"))
    r = shrink.evaluate(small_graph, data, "accuracy", shrink.reference(), progress=False)
    logits = shrink.reference().run(small_graph, [np.load(workspace / "x.npy")])[0]
    expected = float(np.mean(logits.argmax(1) == np.load(workspace / "y.npy")))
    assert r["value"] == pytest.approx(expected)
    assert r["metric"] == "accuracy"
