"""The U-Net option for images: shapes at any size, zero output untrained, every parameter learns."""

import pytest
import torch

from thermodiff.errors import ConfigError
from thermodiff.networks import UNet, UNetConfig

SMALL = UNetConfig(unet_channels=8, unet_levels=2, unet_blocks=1, unet_fourier=1, unet_time_bumps=4)


@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 8, 8), (1, 7, 9)])
def test_untrained_unet_outputs_zero_with_the_right_shape(shape):
    net = UNet(SMALL, shape, out_channels=2)
    out = net(torch.randn(3, *shape), torch.zeros(3, dtype=torch.long), torch.rand(3))
    assert out.shape == (3, 2, *shape) and float(out.detach().abs().max()) == 0.0


def test_gradients_reach_every_parameter_once_the_output_layer_moves():
    torch.manual_seed(0)
    net = UNet(SMALL, (1, 8, 8), out_channels=1)
    with torch.no_grad():
        net.head[-1].weight.normal_(0, 0.1)
        net.attention.out.weight.normal_(0, 0.1)
    net(torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), torch.rand(4)).square().sum().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0.0]
    assert not missing, missing


def test_attention_sees_the_whole_image_at_the_lowest_resolution():
    torch.manual_seed(1)
    net = UNet(UNetConfig(unet_channels=8, unet_levels=1, unet_blocks=1, unet_time_bumps=2), (1, 12, 12), 1)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.2)
    x = torch.zeros(1, 1, 12, 12, requires_grad=True)
    net(x, torch.zeros(1, dtype=torch.long), torch.rand(1))[0, 0, 0, 0, 0].backward()
    assert float(x.grad[0, 0, -1, -1].abs()) > 0  # a far corner reaches the first pixel


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="multiple of 8"):
        UNetConfig(unet_channels=12)
    with pytest.raises(ConfigError, match="unet_blocks"):
        UNetConfig(unet_blocks=0)
