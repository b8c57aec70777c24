"""MetNet: the 3D U-Net metsentry ships.

Four levels (base, 2·base, 4·base, 8·base channels), two 3x3x3 convolutions with
batch norm and ReLU per level, max-pool down, nearest ×2 up written as
reshape/expand (no Resize node: TensorRT and ONNX Runtime's CPU provider both run
it without surprises), skip connections by concatenation, a 1x1x1 head giving
one lesion logit per voxel. Spatial sizes must be multiples of 8.

Receptive field: receptive_field() below counts it: 96 voxels for 4 levels
(96 mm on the 1 mm model grid), enough to see a lesion, the vessel beside it and
the surrounding sulci at once.

At export, each batch norm is folded into the convolution before it, so the ONNX
graph holds only Conv, Relu, MaxPool, Reshape/Expand, Concat and Sigmoid, which
quantize cleanly to INT8 with Q/DQ pairs.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, padding=1)
        self.bn1 = nn.BatchNorm3d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(x)))


def up2(x):
    """Nearest-neighbour ×2 upsampling as reshape + expand + reshape."""
    n, c, d, h, w = x.shape
    x = x.reshape(n, c, d, 1, h, 1, w, 1)
    x = x.expand(n, c, d, 2, h, 2, w, 2)
    return x.reshape(n, c, d * 2, h * 2, w * 2)


class MetNet(nn.Module):
    def __init__(self, in_channels=2, base=8, levels=4, channels=None):
        super().__init__()
        # channels, when given, sets each level's width (speed_variants.py).
        ch = list(channels) if channels else [base * 2 ** i for i in range(levels)]
        self.levels = levels = len(ch)
        self.enc = nn.ModuleList()
        cin = in_channels
        for c in ch:
            self.enc.append(ConvBlock(cin, c))
            cin = c
        self.dec = nn.ModuleList()
        for i in range(levels - 2, -1, -1):
            self.dec.append(ConvBlock(ch[i + 1] + ch[i], ch[i]))
        self.head = nn.Conv3d(ch[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, blk in enumerate(self.enc):
            x = blk(x)
            if i < self.levels - 1:
                skips.append(x)
                x = F.max_pool3d(x, 2)
        for blk in self.dec:
            x = blk(torch.cat([up2(x), skips.pop()], dim=1))
        return self.head(x)  # logits


class Exported(nn.Module):
    """The exported graph: probabilities, not logits."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.sigmoid(self.net(x))


def fold_batchnorm(net):
    """Returns a copy of net (eval mode) with each BatchNorm folded into its conv."""
    import copy
    net = copy.deepcopy(net).eval()
    for m in net.modules():
        if isinstance(m, ConvBlock):
            for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2")):
                conv, bn = getattr(m, conv_name), getattr(m, bn_name)
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                with torch.no_grad():
                    conv.weight.mul_(scale.reshape(-1, 1, 1, 1, 1))
                    b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                    conv.bias = nn.Parameter((b - bn.running_mean) * scale + bn.bias)
                setattr(m, bn_name, nn.Identity())
    return net


def receptive_field(levels=4):
    """Receptive field in voxels of MetNet with the given number of levels."""
    rf, jump = 1, 1
    for i in range(levels):  # encoder: two 3x3x3 convs, then pool
        rf += 2 * 2 * jump
        if i < levels - 1:
            rf += jump  # 2x2x2 max pool
            jump *= 2
    for i in range(levels - 1):  # decoder: up, two convs
        jump //= 2
        rf += 2 * 2 * jump
    return rf
