"""Lighter MetNet layouts, with random weights, for speed comparisons only.

    /usr/bin/python3 models/recipe/speed_variants.py --out /tmp/variants
    go run ./runtime/cmd/ortcompare -dims 176x216x192 models/metnet/metnet-fp32.onnx /tmp/variants/*.onnx

Each file is exported as export.py exports the shipped network (opset 13,
dynamic spatial axes, sigmoid output, ×2 upsampling as reshape/expand), so
ONNX Runtime runs the same kinds of nodes; what changes is how much work sits
at each resolution. Untrained: none of these detects anything. They answer
one question before a retrain is spent on one: how much faster would it be?
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from unet import Exported, MetNet, up2


class Single(nn.Module):
    """One 3x3x3 convolution with batch norm and ReLU (half a ConvBlock)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class FullSingle(MetNet):
    """MetNet whose full-resolution level has one convolution on each side
    instead of two."""

    def __init__(self, channels=(8, 16, 32, 64)):
        super().__init__(channels=channels)
        self.enc[0] = Single(2, channels[0])
        self.dec[-1] = Single(channels[1] + channels[0], channels[0])


class HalfResolution(nn.Module):
    """The U-Net from half resolution (a 2x2x2 stride-2 convolution in), and
    one 3x3x3 convolution at full resolution over its upsampled features and
    the input."""

    def __init__(self, ch=(16, 32, 64), full=8, in_channels=2):
        super().__init__()
        self.down = nn.Conv3d(in_channels, ch[0], 2, stride=2)
        self.inner = MetNet(in_channels=ch[0], channels=ch)
        self.inner.head = nn.Identity()
        self.full = Single(ch[0] + in_channels, full)
        self.head = nn.Conv3d(full, 1, 1)

    def forward(self, x):
        y = self.inner(F.relu(self.down(x)))
        return self.head(self.full(torch.cat([up2(y), x], dim=1)))


VARIANTS = {
    "metnet-layout": lambda: MetNet(base=8),  # the shipped layout: the peer
    "full-single": lambda: FullSingle(),
    "full4": lambda: MetNet(channels=(4, 16, 32, 64)),
    "base6": lambda: MetNet(base=6),
    "base5": lambda: MetNet(base=5),
    "half-resolution": lambda: HalfResolution(),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    for name, make in VARIANTS.items():
        net = make().eval()
        path = os.path.join(args.out, name + ".onnx")
        torch.onnx.export(Exported(net), torch.zeros(1, 2, 32, 32, 32), path, opset_version=13,
                          input_names=["input"], output_names=["prob"],
                          dynamic_axes={"input": {2: "d", 3: "h", 4: "w"}, "prob": {2: "d", 3: "h", 4: "w"}})
        print(f"{path}: {sum(p.numel() for p in net.parameters())} parameters")


if __name__ == "__main__":
    main()
