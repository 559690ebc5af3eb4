import torch

from thermodiff.networks import MLPConfig, Readout, TemporalMLP
from thermodiff.networks.time import bump_centres, bumps


def test_bumps_are_normalized_and_peak_at_their_centres():
    centres = bump_centres(5)
    g = bumps(centres, centres)
    assert torch.allclose(g.sum(1), torch.ones(5))
    assert bool((g.argmax(1) == torch.arange(5)).all())


def _net(**kw):
    return TemporalMLP(MLPConfig(width=16, depth=2, bumps=4, **kw), (3,), out_channels=2, T=10)


def test_untrained_network_outputs_zero_and_has_the_right_shape():
    for readout in Readout:
        net = _net(readout=readout)
        x = torch.randn(7, 3)
        out = net(x, torch.randint(1, 11, (7,)), torch.rand(7))
        assert out.shape == (7, 2, 3) and bool((out == 0).all())


def test_readout_depends_on_time():
    for kw in ({"readout": Readout.PER_STEP}, {"readout": Readout.BUMPS}, {"fourier": 8}):
        net = _net(**kw)
        with torch.no_grad():
            net.readout.normal_()
            net.readout_bias.normal_()
        x = torch.randn(1, 3).expand(2, 3)
        out = net(x, torch.tensor([1, 10]), torch.tensor([0.0, 1.0]))
        assert not torch.allclose(out[0], out[1])
