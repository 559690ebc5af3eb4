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


def test_bumps_hold_no_denormal_numbers_and_the_network_output_is_unchanged():
    """Far bumps underflow to denormal numbers, which slow the CPU's matrix products severalfold;
    they are set to 0, which no sum they enter can notice."""
    s = torch.rand(4096, generator=torch.Generator().manual_seed(0))
    centres = bump_centres(16)
    g = bumps(s, centres)
    tiny = torch.finfo(g.dtype).tiny
    assert not bool(((g > 0) & (g < tiny)).any())
    w = 0.5 / 15
    raw = torch.softmax(-((s[:, None] - centres[None, :]) ** 2) / (2.0 * w * w), dim=1)
    assert bool(((raw > 0) & (raw < tiny)).any())  # the unflushed weights do have them
    torch.manual_seed(0)
    net = TemporalMLP(MLPConfig(width=32, depth=2, bumps=16), (2,), 2, T=100)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(4096, 2)
    import thermodiff.networks.mlp as mlp_module
    flushed = net(x, torch.zeros(4096, dtype=torch.long), s)
    original = mlp_module.bumps
    mlp_module.bumps = lambda s_, c: torch.softmax(-((s_[:, None] - c[None, :]) ** 2) / (2.0 * w * w), dim=1)
    try:
        unflushed = net(x, torch.zeros(4096, dtype=torch.long), s)
    finally:
        mlp_module.bumps = original
    assert torch.equal(flushed, unflushed)
