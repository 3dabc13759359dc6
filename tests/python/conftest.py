"""Shared fixtures of the Python tests: the package from the build tree, small models and data."""

import os
import subprocess

import numpy as np
import pytest

SOURCE_DIR = os.environ.get("SHRINK_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))

# A small CNN in the IR text form: Conv+BN+Relu, a second Conv, pooling and a Gemm classifier.
SMALL_CNN = """graph @small(%x: f32[N,1,8,8]) {
  %w1 = const f32[8,1,3,3] random(seed=1)
  %b1 = const f32[8] random(seed=2)
  %c1 = Conv(%x, %w1, %b1) {pads=[1,1,1,1]} : f32[N,8,8,8]
  %r1 = Relu(%c1) : f32[N,8,8,8]
  %w2 = const f32[16,8,3,3] random(seed=3)
  %b2 = const f32[16] random(seed=4)
  %c2 = Conv(%r1, %w2, %b2) {pads=[1,1,1,1]} : f32[N,16,8,8]
  %r2 = Relu(%c2) : f32[N,16,8,8]
  %p = GlobalAveragePool(%r2) : f32[N,16,1,1]
  %f = Flatten(%p) : f32[N,16]
  %w3 = const f32[10,16] random(seed=5)
  %b3 = const f32[10] random(seed=6)
  %y = Gemm(%f, %w3, %b3) {transB=1} : f32[N,10]
  return %y
}
"""


@pytest.fixture
def shrink():
    import shrink as module
    return module


@pytest.fixture
def small_graph(shrink):
    return shrink.parse(SMALL_CNN)


@pytest.fixture
def workspace(tmp_path, shrink):
    """A folder with the small CNN as ONNX and 32 labelled random samples as .npy."""
    g = shrink.parse(SMALL_CNN)
    g.save(str(tmp_path / "model.onnx"))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.uniform(-1, 1, (32, 1, 8, 8)).astype(np.float32))
    np.save(tmp_path / "y.npy", (np.arange(32) * 7 % 10).astype(np.int64))
    return tmp_path


def cli():
    """The shrink binary of the build tree."""
    path = os.environ.get("SHRINK_CLI")
    if not path:
        pytest.skip("SHRINK_CLI is not set (ctest sets it)")
    return path


def run_cli(*args, cwd=None):
    return subprocess.run([cli(), *map(str, args)], capture_output=True, text=True, cwd=cwd)
