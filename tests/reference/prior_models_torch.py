"""PyTorch references for the two networks of the paper's prior stage, written from their
description in include/vkgrad/models/inversion_encoder.hpp and fusion.hpp (BDInvert's
encoder_simple trunk, pSp's FPN and map2style heads; an EDSR-style fusion network), with the
same parameter and buffer names as the C++ modules:

  InversionEncoder  trunk.N.conv.*, trunk.N.bn.*, to_features.*, lat0.* (only when
                    max_channels != w_dim), latlayer1.*, latlayer2.* (only when num_ws > 7),
                    styles.K.convs.J.* (J even), styles.K.linear.{weight, bias}
  FusionNet         conv_r.*, conv_g.*, res.B.conv1.*, res.B.conv2.*, conv_out.*

Only forward passes are defined: autograd gives the gradients.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

FIRST_W = 4       # the generator reads w4.. after its 16x16 feature map is replaced
FIRST_FINE_W = 7  # pSp: heads for w7.. read the 64x64 FPN level, earlier ones the 32x32


class EqualLinear(nn.Module):
    """StyleGAN2's equalised linear layer, lr_mul 1, no activation: x @ (W / sqrt(in))^T + b."""

    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in))
        self.bias = nn.Parameter(torch.zeros(fan_out))
        self.scale = 1.0 / math.sqrt(fan_in)

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias)


class EncoderConvBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.leaky_relu(self.bn(self.conv(x)), 0.2)


class GradualStyleBlock(nn.Module):
    def __init__(self, cin, cout, spatial):
        super().__init__()
        layers = []
        c = cin
        for _ in range(int(round(math.log2(spatial)))):
            layers += [nn.Conv2d(c, cout, 3, stride=2, padding=1), nn.LeakyReLU(0.01)]
            c = cout
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(cout, cout)
        self.cout = cout

    def forward(self, x):
        h = self.convs(x)
        assert h.shape[2:] == (1, 1)
        return self.linear(h.reshape(h.shape[0], self.cout))


def encoder_channels(r, max_channels, min_channels):
    return max(min_channels, min(max_channels, 128 * 128 // r))


class InversionEncoder(nn.Module):
    def __init__(self, input_size=256, convs_per_stage=3, max_channels=512, min_channels=32, feature_channels=512,
                 w_dim=512, num_ws=16):
        super().__init__()
        k = int(round(math.log2(input_size // 16)))
        assert input_size == 16 << k and k >= 2
        ch = lambda r: encoder_channels(r, max_channels, min_channels)
        self.input_size, self.convs_per_stage, self.stages = input_size, convs_per_stage, k
        self.w_dim, self.num_ws = w_dim, num_ws
        blocks, cin = [], 3
        for i in range(k):
            for _ in range(convs_per_stage):
                blocks.append(EncoderConvBlock(cin, ch(input_size >> i)))
                cin = ch(input_size >> i)
        blocks.append(EncoderConvBlock(cin, max_channels))  # the 16x16 tail
        self.trunk = nn.Sequential(*blocks)
        self.to_features = nn.Conv2d(max_channels, feature_channels, 3, padding=1)
        self.lat0 = nn.Conv2d(max_channels, w_dim, 1) if max_channels != w_dim else None
        self.latlayer1 = nn.Conv2d(ch(32), w_dim, 1)
        self.latlayer2 = nn.Conv2d(ch(64), w_dim, 1) if num_ws > FIRST_FINE_W else None
        self.styles = nn.ModuleList(
            [GradualStyleBlock(w_dim, w_dim, 32 if i < FIRST_FINE_W else 64) for i in range(FIRST_W, num_ws)])

    def forward(self, x, w_avg):
        taps = {}
        h, n = x, 0
        for i in range(self.stages):
            for _ in range(self.convs_per_stage):
                h = self.trunk[n](h)
                n += 1
            taps[self.input_size >> i] = h
            h = F.avg_pool2d(h, 2)
        c16 = self.trunk[n](h)
        features = self.to_features(c16)
        p16 = self.lat0(c16) if self.lat0 is not None else c16
        up = lambda t, s: F.interpolate(t, size=(s, s), mode="bilinear", align_corners=True)
        p32 = up(p16, 32) + self.latlayer1(taps[32])
        p64 = up(p32, 64) + self.latlayer2(taps[64]) if self.latlayer2 is not None else None
        ws = [head(p32 if FIRST_W + k < FIRST_FINE_W else p64) for k, head in enumerate(self.styles)]
        return features, torch.stack(ws, 1) + w_avg.view(1, 1, -1)


class FusionResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class FusionNet(nn.Module):
    def __init__(self, img_channels=3, width=64, blocks=8):
        super().__init__()
        self.conv_r = nn.Conv2d(img_channels, width, 3, padding=1)
        self.conv_g = nn.Conv2d(img_channels, width, 3, padding=1)
        self.res = nn.Sequential(*[FusionResBlock(width) for _ in range(blocks)])
        self.conv_out = nn.Conv2d(width, img_channels, 3, padding=1)

    def forward(self, x_r, x_g):
        return self.conv_out(self.res(self.conv_r(x_r) + self.conv_g(x_g)))
