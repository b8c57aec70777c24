"""MetNet: the 3D U-Net metsentry ships.

Four levels (base, 2·base, 4·base, 8·base channels), two 3x3x3 convolutions with
batch norm and ReLU per level, max-pool down, nearest ×2 up written as
reshape/expand (no Resize node: TensorRT and ONNX Runtime's CPU provider both run
it without surprises), skip connections by concatenation, a 1x1x1 head giving
one lesion logit per voxel. Spatial sizes must be multiples of 8.

Receptive field: receptive_field() below counts it: 96 voxels for 4 levels
(96 mm on the 1 mm model grid), enough to see a lesion, the vessel beside it and
the surrounding sulci at once.

At export, each batch norm is folded into the convolution before it, so the
plain ONNX graph holds only Conv, Relu, MaxPool, Reshape/Expand, Concat and
Sigmoid, which quantize cleanly to INT8 with Q/DQ pairs. The fp32 file ships
the same function with each decoder block's first convolution split
(SplitDecoder below), which ONNX Runtime's CPU provider runs in 0.6-0.7 of
the time.
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

    def encode(self, x):
        """The encoder: the deepest level's features and the skips, shallowest
        first."""
        skips = []
        for i, blk in enumerate(self.enc):
            x = blk(x)
            if i < self.levels - 1:
                skips.append(x)
                x = F.max_pool3d(x, 2)
        return x, skips

    def forward(self, x):
        x, skips = self.encode(x)
        for blk in self.dec:
            x = blk(torch.cat([up2(x), skips.pop()], dim=1))
        return self.head(x)  # logits


# Per axis, which taps of a 3-tap convolution over a ×2 nearest-upsampled
# grid reach each coarse voxel. The fine voxel f = 2c + p reads fine voxels
# f-1, f, f+1, that is coarse c-1, c, c (p = 0) or c, c, c+1 (p = 1). Counted
# from f' = f + 1 = 2q + p', both parities read coarse q-1 and q: a 2-tap
# convolution with one voxel of padding on each side, whose output q holds
# fine f' = 2q and 2q+1. _PARITY_TAPS[p', s, t] is 1 where tap t of the fine
# kernel falls on tap s of that 2-tap kernel.
_PARITY_TAPS = torch.tensor([
    [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]],  # p' = 0 (fine f = 2q - 1): taps 0, 1 on q-1; tap 2 on q
    [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],  # p' = 1 (fine f = 2q):     tap 0 on q-1; taps 1, 2 on q
])


def _upsample_x(x):
    """Nearest ×2 along the last axis as a product with a 0/1 matrix (one
    GEMM; an Expand or Gather on the innermost axis copies single floats)."""
    w = x.shape[-1]
    u = (torch.arange(2 * w).unsqueeze(0) // 2 == torch.arange(w).unsqueeze(1)).to(x.dtype)
    return torch.matmul(x, u)


class UpConv(nn.Module):
    """conv3d(up2(x), weight, padding=1), without bias, computed from x at its
    own resolution in z and y.

    The two parities of z and of y become 4·cout channels of one convolution
    with a 2x2x3 kernel over x upsampled along its last axis only; a reshape
    and a transpose that moves whole rows interleaves them, and slicing drops
    the extra voxel. Same sums as the fine convolution, taps added in another
    order, so equal to rounding; 12 multiply-adds per input channel and output
    instead of 27, and no full-resolution copy of up2(x)."""

    def __init__(self, weight):
        super().__init__()
        cout, cin = weight.shape[:2]
        k = torch.einsum("aet,bfu,oituv->aboiefv", _PARITY_TAPS, _PARITY_TAPS, weight.detach())
        self.register_buffer("kernel", k.reshape(4 * cout, cin, 2, 2, 3).contiguous())
        self.cout = cout

    def forward(self, x):
        n, _, d, h, w = x.shape
        y = F.conv3d(_upsample_x(x), self.kernel, padding=1)  # [n, (p'z, p'y, o), d+1, h+1, 2w]
        y = y.reshape(n, 2, 2, self.cout, d + 1, h + 1, 2 * w)
        y = y.permute(0, 3, 4, 1, 5, 2, 6).reshape(n, self.cout, 2 * d + 2, 2 * h + 2, 2 * w)
        return y[:, :, 1:2 * d + 1, 1:2 * h + 1]


class SplitDecoder(nn.Module):
    """A MetNet with batch norm folded (fold_batchnorm), rearranged for ONNX
    Runtime's CPU provider: the same function, logits out.

    Each decoder block's first convolution reads cat(up2(x), skip); it is the
    sum of a convolution of the skip (with the bias) and UpConv of x. At full
    resolution that convolution and the copies feeding it (Expand, Concat)
    took half the pass; split, the pass takes 0.6-0.7 of the time
    (MODEL.md, Speed). export.py ships this graph as metnet-fp32.onnx and
    quantises the plain one for INT8."""

    def __init__(self, folded):
        super().__init__()
        self.net = folded
        self.up = nn.ModuleList()
        self.skip = nn.ModuleList()
        for j, blk in enumerate(folded.dec):
            if not isinstance(blk.bn1, nn.Identity):
                raise ValueError("SplitDecoder needs a MetNet with batch norm folded (fold_batchnorm)")
            w, b = blk.conv1.weight.detach(), blk.conv1.bias.detach()
            cout = w.shape[0]
            cskip = folded.enc[folded.levels - 2 - j].conv2.weight.shape[0]
            cup = w.shape[1] - cskip  # cat puts the upsampled channels first
            self.up.append(UpConv(w[:, :cup]))
            skip = nn.Conv3d(cskip, cout, 3, padding=1)
            with torch.no_grad():
                skip.weight.copy_(w[:, cup:])
                skip.bias.copy_(b)
            self.skip.append(skip)

    def forward(self, x):
        net = self.net
        x, skips = net.encode(x)
        for blk, up, skip in zip(net.dec, self.up, self.skip):
            x = blk.relu1(skip(skips.pop()) + up(x))
            x = blk.relu2(blk.bn2(blk.conv2(x)))
        return net.head(x)


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


def prune(state, levels=4, base_from=8, base_to=4):
    """Cuts a trained MetNet's state dict (base base_from) down to a narrower
    MetNet (base base_to) by keeping, in every convolution, the output
    channels whose batch-norm scale |gamma| is largest, and the input
    channels that the kept channels of the layer before feed. The result
    starts distillation from the wider network's own features instead of
    random ones (train.py --prune-from)."""
    ch_from = [base_from * 2 ** i for i in range(levels)]
    ch_to = [base_to * 2 ** i for i in range(levels)]
    out = {}

    def keep(prefix, bn, n):
        g = state[f"{prefix}.{bn}.weight"].abs()
        return torch.sort(torch.topk(g, n).indices).values

    def copy_conv(prefix, conv, bn, rows, cols):
        out[f"{prefix}.{conv}.weight"] = state[f"{prefix}.{conv}.weight"][rows][:, cols].clone()
        out[f"{prefix}.{conv}.bias"] = state[f"{prefix}.{conv}.bias"][rows].clone()
        for k in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.{bn}.{k}"] = state[f"{prefix}.{bn}.{k}"][rows].clone()
        out[f"{prefix}.{bn}.num_batches_tracked"] = state[f"{prefix}.{bn}.num_batches_tracked"].clone()

    def keep_for_head(prefix, n):
        # The head reads lesions off channels of both signs (the wider
        # network marks a lesion by silencing some channels and lighting
        # others): keep the strongest of each sign, then the strongest left,
        # by |gamma × head weight|. Kept by |gamma| alone, every channel had a
        # negative weight and the probability could not pass sigmoid(bias).
        w = state["head.weight"].flatten()
        score = (state[f"{prefix}.bn2.weight"] * w).abs()
        chosen = [int(torch.argmax(torch.where(sel, score, -1.0))) for sel in (w > 0, w < 0) if sel.any()]
        rest = [int(i) for i in torch.argsort(score, descending=True) if int(i) not in chosen]
        return torch.sort(torch.tensor((chosen + rest)[:n])).values

    def block(prefix, cols, n, head=False):
        s1 = keep(prefix, "bn1", n)
        copy_conv(prefix, "conv1", "bn1", s1, cols)
        s2 = keep_for_head(prefix, n) if head else keep(prefix, "bn2", n)
        copy_conv(prefix, "conv2", "bn2", s2, s1)
        return s2

    cols = torch.arange(state["enc.0.conv1.weight"].shape[1])
    enc_out = []
    for i in range(levels):
        cols = block(f"enc.{i}", cols, ch_to[i])
        enc_out.append(cols)
    lower = enc_out[-1]
    for j, i in enumerate(range(levels - 2, -1, -1)):
        # The decoder's input is cat(up2(lower level), skip): the skip's
        # channels sit after the lower level's in the wider network.
        cols = torch.cat([lower, ch_from[i + 1] + enc_out[i]])
        lower = block(f"dec.{j}", cols, ch_to[i], head=i == 0)
    out["head.weight"] = state["head.weight"][:, lower].clone()
    out["head.bias"] = state["head.bias"].clone()
    return out
