import dataclasses

import pytest
import torch

from thermodiff.config import ConfigError, from_dict, to_dict
from thermodiff.networks.multiscale import (
    BumpReadout,
    MultiScaleConfig,
    MultiScaleConvNet,
    automatic_scales,
    pool,
    unpool,
)
from thermodiff.networks.time import bump_centres, bumps

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: one thread is fastest, and immune to thread stalls on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = MultiScaleConfig(channels=16, multiscale_layers=2, pointwise_layers=1, time_bumps=4, norm_groups=4)


def _net(shape, out_channels=2, **kw):
    torch.manual_seed(0)
    return MultiScaleConvNet(dataclasses.replace(SMALL, **kw), shape, out_channels, T=100)


def _inputs(shape, batch=3, dtype=torch.float32):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, *shape, generator=gen, dtype=dtype)
    t = torch.randint(1, 101, (batch,), generator=gen)
    return x, t, t.to(torch.float32) / 100


def _perturb_readout(net):
    with torch.no_grad():
        net.readout.weight.normal_(0.0, 0.3)
        net.readout.bias.normal_()


@pytest.mark.parametrize("shape", [(1, 12, 12), (1, 16, 16), (3, 10, 10), (3, 8, 12)])
@pytest.mark.parametrize("dense", [0, 32])
def test_untrained_network_outputs_zero_with_the_right_shape(shape, dense):
    net = _net(shape, dense=dense)
    out = net(*_inputs(shape))
    assert out.shape == (3, 2, *shape)
    assert bool((out == 0).all()), "the readout must start at zero"


def test_automatic_scales_reach_down_to_about_four_pixels():
    assert [automatic_scales(n, n, 4) for n in (3, 4, 7, 8, 10, 12, 16, 28, 32)] == [1, 1, 2, 2, 2, 2, 3, 4, 4]
    assert automatic_scales(32, 10, 4) == 2  # the shorter side decides
    assert _net((1, 16, 16)).n_scales == 3 and _net((1, 16, 16), scales=1).n_scales == 1


def test_pool_then_unpool_gives_exact_block_means_at_odd_sizes():
    x = torch.randn(2, 3, 10, 7, dtype=torch.float64)
    y = unpool(pool(x, 4), 4, (10, 7))
    assert y.shape == x.shape
    for rows in (slice(0, 4), slice(4, 8), slice(8, 10)):
        for cols in (slice(0, 4), slice(4, 7)):
            block = x[:, :, rows, cols]
            expected = block.mean(dim=(-2, -1), keepdim=True).expand_as(block)
            torch.testing.assert_close(y[:, :, rows, cols], expected)


def test_readout_is_mixed_over_time_by_the_bumps():
    shape = (1, 6, 6)
    net = _net(shape)
    with torch.no_grad():
        net.readout.bias.copy_(torch.arange(8.0).reshape(4, 2))  # readout weights stay zero
    s = torch.tensor([0.0, 0.3, 1.0])
    out = net(torch.randn(3, *shape), torch.tensor([1, 30, 100]), s)
    expected = bumps(s, bump_centres(4)) @ net.readout.bias  # (B, out_channels)
    torch.testing.assert_close(out, expected[:, :, None, None, None].expand_as(out))


def test_readout_weights_are_mixed_over_time_by_the_bumps():
    gen = torch.Generator().manual_seed(3)
    readout = BumpReadout(channels=5, n_out=3, n_time=4)
    with torch.no_grad():
        readout.weight.copy_(torch.randn(4, 3, 5, generator=gen))
        readout.bias.copy_(torch.randn(4, 3, generator=gen))
    h = torch.randn(2, 5, 6, 7, generator=gen)
    g = bumps(torch.tensor([0.1, 0.8]), bump_centres(4))
    per_bump = [torch.nn.functional.conv2d(h, readout.weight[j, :, :, None, None], readout.bias[j]) for j in range(4)]
    expected = sum(g[:, j, None, None, None] * per_bump[j] for j in range(4))
    torch.testing.assert_close(readout(h, g), expected)


def test_output_depends_on_time_once_the_readout_is_trained():
    shape = (3, 8, 8)
    net = _net(shape)
    _perturb_readout(net)
    x = torch.randn(1, *shape).expand(2, *shape)
    out = net(x, torch.tensor([1, 100]), torch.tensor([0.0, 1.0]))
    assert (out[0] - out[1]).abs().max() > 1e-2


@pytest.mark.parametrize("dense", [0, 32])
def test_gradients_reach_every_parameter(dense):
    shape = (3, 10, 10)
    net = _net(shape, dense=dense)
    _perturb_readout(net)
    net(*_inputs(shape)).square().sum().backward()
    silent = [name for name, p in net.named_parameters() if p.grad is None or not bool((p.grad != 0).any())]
    assert not silent, f"no gradient reaches {silent}"


def test_float64_network_gives_float64_output():
    shape = (1, 12, 12)
    net = _net(shape, dense=16).double()
    _perturb_readout(net)
    x, t, s = _inputs(shape, dtype=torch.float64)
    out = net(x, t, s)  # s stays float32, as the process hands it over
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), net.float()(x.float(), t, s), rtol=1e-4, atol=1e-4)


def test_nothing_assumes_the_cpu():
    shape = (3, 10, 10)
    net = _net(shape, dense=16).to("meta")
    x, t, s = (a.to("meta") for a in _inputs(shape))
    assert net(x, t, s).device.type == "meta"


def test_only_the_dense_pathway_sees_distant_pixels():
    # no multi-scale layers, 1x1 kernels, no GroupNorm: without the dense pathway each pixel sees only itself
    shape = (1, 8, 8)
    x, t, s = _inputs(shape, batch=1)
    moved = x.clone()
    moved[..., 7, 7] += 1.0
    for dense, far_changes in ((0, False), (16, True)):
        net = _net(shape, dense=dense, multiscale_layers=0, kernel_size=1, norm_groups=0)  # GroupNorm is not local
        _perturb_readout(net)
        change = (net(moved, t, s) - net(x, t, s)).abs()
        assert bool((change[..., :7, :7] > 1e-6).any()) is far_changes
        assert change[..., 7, 7].max() > 1e-3


def test_dense_pathway_is_toggled_by_its_width():
    without, with_dense = _net((1, 8, 8)), _net((1, 8, 8), dense=16)
    assert without.dense is None
    assert not any(name.startswith("dense") for name, _ in without.named_parameters())
    extra = sum(p.numel() for p in with_dense.parameters()) - sum(p.numel() for p in without.parameters())
    assert extra == sum(p.numel() for p in with_dense.dense.parameters()) > 0


def test_a_few_adam_steps_fit_a_fixed_target():
    shape = (1, 8, 8)
    net = _net(shape, dense=16)
    x, t, s = _inputs(shape, batch=4)
    target = torch.randn(4, 2, *shape, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = (net(x, t, s) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], f"MSE went from {losses[0]:.3f} to {losses[-1]:.3f}"


def test_config_round_trips_and_rejects_bad_values():
    cfg = MultiScaleConfig(channels=32, dense=100)
    assert from_dict(MultiScaleConfig, to_dict(cfg)) == cfg
    for bad in ({"kernel_size": 4}, {"channels": 0}, {"channels": 20, "norm_groups": 8}, {"scales": -1}):
        with pytest.raises(ConfigError):
            MultiScaleConfig(**bad)
    with pytest.raises(ValueError, match="C, H, W"):
        MultiScaleConvNet(MultiScaleConfig(), (64,), 2, 10)
