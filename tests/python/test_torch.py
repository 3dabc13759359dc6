"""from_torch and to_torch: moving between PyTorch and shrink."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def test_from_torch_matches_the_module(shrink):
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(3, 1, 8, 8)
    g = shrink.from_torch(net, x)
    assert g.info()["inputs"][0][1] == "f32[N,1,8,8]"
    out = shrink.reference().run(g, [x.numpy()])[0]
    np.testing.assert_allclose(out, net(x).detach().numpy(), rtol=1e-4, atol=1e-5)
    assert net.training is False


def test_to_torch_outputs_equal_the_graph_and_train(shrink, small_graph):
    module = shrink.to_torch(small_graph).eval()
    x = np.random.default_rng(2).uniform(-1, 1, (2, 1, 8, 8)).astype(np.float32)
    expected = shrink.reference().run(small_graph, [x])[0]
    got = module(torch.from_numpy(x))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-4, atol=1e-5)

    params = list(module.parameters())
    assert len(params) == 6
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    loss = got.pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in params)
    opt.step()
    after = module(torch.from_numpy(x))
    assert after.pow(2).mean().item() < loss.item()
    trained = small_graph.clone()
    module.write_back(trained)
    np.testing.assert_allclose(shrink.reference().run(trained, [x])[0],
                               after.detach().numpy(), rtol=1e-4, atol=1e-5)
