"""PyTorch references for the two regression networks of issue 7/8, written from the papers'
descriptions (docs in /work/shared/notes/paper-components.md, sections 1.1-1.6) with the
parameter names of the official BasicSR code, so that a state dict of these modules and one of
the released checkpoints have the same keys and shapes:

  NAFNet  Chen, Chu, Zhang, Sun, "Simple Baselines for Image Restoration", ECCV 2022
  HINet   Chen, Lu, Zhang, Chu, Chen, "HINet: Half Instance Normalization Network for Image
          Restoration", CVPRW 2021

Only forward passes are defined: autograd gives the gradients. NAFNet's LayerNorm2d is written
with ordinary ops (its hand-written backward in the official code is the same derivative).
Test-time local pooling (TLC, the official NAFNetLocal) is LocalAvgPool below: NAFNet(local_pool=B)
gives the blocks at level l windows of B >> l pixels, computed the official way (2-D prefix sums,
then replicate padding), independently of vkgrad's banded-matrix products.
"""
import torch
from torch import nn
from torch.nn import functional as F


# ----------------------------------------------------------------------------------------------
# NAFNet


class LayerNorm2d(nn.Module):
    """Per-pixel normalisation over the channel axis (biased variance, eps 1e-6), then affine."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def simple_gate(x):
    a, b = x.chunk(2, dim=1)
    return a * b


class LocalAvgPool(nn.Module):
    """Mean over the k x k window at each position (clipped to the map), the valid means
    replicate-padded back to the map's size; a window covering the map is the global mean."""
    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        h, w = x.shape[2:]
        if self.k >= h and self.k >= w:
            return x.mean((2, 3), keepdim=True)
        k1, k2 = min(h, self.k), min(w, self.k)
        s = F.pad(x.cumsum(-1).cumsum(-2), (1, 0, 1, 0))
        out = (s[:, :, k1:, k2:] - s[:, :, :-k1, k2:] - s[:, :, k1:, :-k2] + s[:, :, :-k1, :-k2]) / (k1 * k2)
        dh, dw = h - out.shape[2], w - out.shape[3]
        return F.pad(out, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate")


class NAFBlock(nn.Module):
    def __init__(self, c, window=0):
        super().__init__()
        wide = 2 * c  # both expansions are 2 in every published configuration
        self.conv1 = nn.Conv2d(c, wide, 1)
        self.conv2 = nn.Conv2d(wide, wide, 3, padding=1, groups=wide)
        self.conv3 = nn.Conv2d(wide // 2, c, 1)
        pool = LocalAvgPool(window) if window > 0 else nn.AdaptiveAvgPool2d(1)
        self.sca = nn.Sequential(pool, nn.Conv2d(wide // 2, wide // 2, 1))
        self.conv4 = nn.Conv2d(c, wide, 1)
        self.conv5 = nn.Conv2d(wide // 2, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp):
        h = simple_gate(self.conv2(self.conv1(self.norm1(inp))))
        h = self.conv3(h * self.sca(h))
        y = inp + h * self.beta
        h = self.conv5(simple_gate(self.conv4(self.norm2(y))))
        return y + h * self.gamma


class NAFNet(nn.Module):
    def __init__(self, img_channel=3, width=16, middle_blk_num=1, enc_blk_nums=(), dec_blk_nums=(), local_pool=0):
        super().__init__()
        win = lambda level: max(1, local_pool >> level) if local_pool > 0 else 0
        self.intro = nn.Conv2d(img_channel, width, 3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1)
        self.encoders, self.decoders = nn.ModuleList(), nn.ModuleList()
        self.middle_blks = nn.ModuleList()
        self.ups, self.downs = nn.ModuleList(), nn.ModuleList()
        ch = width
        for level, n in enumerate(enc_blk_nums):
            self.encoders.append(nn.Sequential(*[NAFBlock(ch, win(level)) for _ in range(n)]))
            self.downs.append(nn.Conv2d(ch, 2 * ch, 2, stride=2))
            ch *= 2
        self.middle_blks = nn.Sequential(*[NAFBlock(ch, win(len(enc_blk_nums))) for _ in range(middle_blk_num)])
        for i, n in enumerate(dec_blk_nums):
            self.ups.append(nn.Sequential(nn.Conv2d(ch, 2 * ch, 1, bias=False), nn.PixelShuffle(2)))
            ch //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(ch, win(len(enc_blk_nums) - 1 - i)) for _ in range(n)]))
        self.multiple = 2 ** len(self.encoders)

    def forward(self, inp):
        H, W = inp.shape[2:]
        m = self.multiple
        x0 = F.pad(inp, (0, (m - W % m) % m, 0, (m - H % m) % m))
        x = self.intro(x0)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for dec, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            x = dec(up(x) + skip)
        x = self.ending(x) + x0
        return x[:, :, :H, :W]


def self_ensemble(net, x, n):
    """Mean of net over the first n of the 8 flips/transposes of x, each output mapped back.
    Transform k: transpose H and W if k & 4, then flip W if k & 1, then flip H if k & 2."""
    total = 0
    for k in range(n):
        v = x
        if k & 4: v = v.transpose(2, 3)
        if k & 1: v = v.flip(3)
        if k & 2: v = v.flip(2)
        y = net(v)
        if k & 2: y = y.flip(2)
        if k & 1: y = y.flip(3)
        if k & 4: y = y.transpose(2, 3)
        total = total + y
    return total / n


# ----------------------------------------------------------------------------------------------
# HINet


class UNetConvBlock(nn.Module):
    """conv3x3 -> [half instance norm] -> lrelu -> conv3x3 -> lrelu, + conv1x1(x) [+ CSFF];
    with `downsample`, also returns the 4x4 stride-2 (no bias) downsampled copy."""

    def __init__(self, cin, cout, downsample, slope, use_csff=False, use_HIN=False):
        super().__init__()
        self.identity = nn.Conv2d(cin, cout, 1)
        self.conv_1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv_2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.slope = slope
        self.with_csff = downsample and use_csff
        if self.with_csff:
            self.csff_enc = nn.Conv2d(cout, cout, 3, padding=1)
            self.csff_dec = nn.Conv2d(cout, cout, 3, padding=1)
        self.use_HIN = use_HIN
        if use_HIN:
            self.norm = nn.InstanceNorm2d(cout // 2, affine=True)
        self.with_down = downsample
        if downsample:
            self.downsample = nn.Conv2d(cout, cout, 4, stride=2, padding=1, bias=False)

    def forward(self, x, enc=None, dec=None):
        h = self.conv_1(x)
        if self.use_HIN:
            a, b = h.chunk(2, dim=1)
            h = torch.cat([self.norm(a), b], 1)
        h = F.leaky_relu(h, self.slope)
        h = F.leaky_relu(self.conv_2(h), self.slope)
        h = h + self.identity(x)
        if enc is not None:
            h = h + self.csff_enc(enc) + self.csff_dec(dec)
        if self.with_down:
            return self.downsample(h), h
        return h


class UNetUpBlock(nn.Module):
    def __init__(self, cin, cout, slope):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv_block = UNetConvBlock(cin, cout, False, slope)

    def forward(self, x, bridge):
        return self.conv_block(torch.cat([self.up(x), bridge], 1))


class SAM(nn.Module):
    """Supervised attention: the stage-1 image and attention-weighted features for stage 2."""

    def __init__(self, c, img_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, img_channels, 3, padding=1)
        self.conv3 = nn.Conv2d(img_channels, c, 3, padding=1)

    def forward(self, x, image):
        img = self.conv2(x) + image
        return self.conv1(x) * torch.sigmoid(self.conv3(img)) + x, img


class HINet(nn.Module):
    def __init__(self, in_chn=3, wf=64, depth=5, relu_slope=0.2, hin_position_left=0, hin_position_right=4):
        super().__init__()
        self.depth = depth
        self.down_path_1, self.down_path_2 = nn.ModuleList(), nn.ModuleList()
        self.conv_01 = nn.Conv2d(in_chn, wf, 3, padding=1)
        self.conv_02 = nn.Conv2d(in_chn, wf, 3, padding=1)
        prev = wf
        for i in range(depth):
            hin = hin_position_left <= i <= hin_position_right
            down = i + 1 < depth
            self.down_path_1.append(UNetConvBlock(prev, wf * 2 ** i, down, relu_slope, use_HIN=hin))
            self.down_path_2.append(UNetConvBlock(prev, wf * 2 ** i, down, relu_slope, use_csff=down, use_HIN=hin))
            prev = wf * 2 ** i
        self.up_path_1, self.up_path_2 = nn.ModuleList(), nn.ModuleList()
        self.skip_conv_1, self.skip_conv_2 = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(depth - 1)):
            c = wf * 2 ** i
            self.up_path_1.append(UNetUpBlock(prev, c, relu_slope))
            self.up_path_2.append(UNetUpBlock(prev, c, relu_slope))
            self.skip_conv_1.append(nn.Conv2d(c, c, 3, padding=1))
            self.skip_conv_2.append(nn.Conv2d(c, c, 3, padding=1))
            prev = c
        self.sam12 = SAM(prev, in_chn)
        self.cat12 = nn.Conv2d(2 * prev, prev, 1)
        self.last = nn.Conv2d(prev, in_chn, 3, padding=1)

    def forward(self, image):
        # stage 1: a plain U-Net; keep the encoder features and the decoder outputs for CSFF
        x = self.conv_01(image)
        encs, decs = [], []
        for i, block in enumerate(self.down_path_1):
            if i + 1 < self.depth:
                x, skip = block(x)
                encs.append(skip)
            else:
                x = block(x)
        for i, up in enumerate(self.up_path_1):
            x = up(x, self.skip_conv_1[i](encs[-i - 1]))
            decs.append(x)
        feat, out_1 = self.sam12(x, image)
        # stage 2: the image again, fused with SAM's features; stage-1 features enter each level
        x = self.cat12(torch.cat([self.conv_02(image), feat], 1))
        skips = []
        for i, block in enumerate(self.down_path_2):
            if i + 1 < self.depth:
                x, skip = block(x, encs[i], decs[-i - 1])
                skips.append(skip)
            else:
                x = block(x)
        for i, up in enumerate(self.up_path_2):
            x = up(x, self.skip_conv_2[i](skips[-i - 1]))
        return [out_1, self.last(x) + image]
