#!/usr/bin/python3
"""Writes the ONNX models runtime/ tests and the bench run.

SPEED AND CORRECTNESS TESTS ONLY: every weight here is random with a fixed seed;
none of these networks has been trained and none finds anything.

Run with Debian's python3-onnx and python3-torch from this folder:

    /usr/bin/python3 make_models.py            # all models (deterministic)

It writes:

  unet_tiny-fp32.onnx, unet_tiny-int8.onnx
      2-level 3D U-Net, widths 4-8, 2 input channels (black, bright), one
      sigmoid output channel; multiple 2. Small receptive field (see RF below),
      used by the tiling tests.
  unet-fp32.onnx, unet-int8.onnx
      4-level 3D U-Net, widths 8-16-32-64 (the bench network); multiple 8.
  *-ref-in.f32, *-ref-out.f32 and *.manifest.json
      self-test reference input (1x2x16x16x16, little-endian float32) and the
      fp32 network's output computed by PyTorch, and manifests (schema 1) that
      name them.
  amx/conv_o{24,30}_i{N}-int8.onnx
      single QDQ Conv3d (3x3x3, pad 1) models with the layer shapes that trip
      ONNX Runtime 1.24.1's AMX int8 kernels (24 outputs with 1-3 inputs, 30
      outputs with 1-8 inputs).
  amx/conv_o24_i2-fp32.onnx, amx/conv_o24_i2-{fp32,int8}.manifest.json,
  amx/conv_o24_i2-ref-{in,out}.f32
      the 24-from-2 repro dressed as a 2-channel model with an fp32 twin (the
      dequantized weights) and self-test references, for the loader tests.

The INT8 models are QDQ graphs written with onnx.helper (onnxruntime's quantizer
is not available): per-channel symmetric int8 weights, uint8 activations with
ranges calibrated by a PyTorch forward pass over a fixed random input, int32
biases, QuantizeLinear/DequantizeLinear before every Conv input and after every
Conv(+Relu) output, so ONNX Runtime fuses each Conv into QLinearConv.
"""
import hashlib
import json
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
HERE = os.path.dirname(os.path.abspath(__file__))


class UNet(torch.nn.Module):
    """Plain 3D U-Net: (conv3-relu)x2 per level, maxpool 2, nearest upsampling."""

    def __init__(self, widths, cin=2):
        super().__init__()
        self.widths = widths
        self.enc = torch.nn.ModuleList()
        c = cin
        for w in widths:
            self.enc.append(torch.nn.ModuleList([torch.nn.Conv3d(c, w, 3, padding=1), torch.nn.Conv3d(w, w, 3, padding=1)]))
            c = w
        self.dec = torch.nn.ModuleList()
        for l in reversed(range(len(widths) - 1)):
            self.dec.append(torch.nn.ModuleList([torch.nn.Conv3d(c + widths[l], widths[l], 3, padding=1),
                                                 torch.nn.Conv3d(widths[l], widths[l], 3, padding=1)]))
            c = widths[l]
        self.head = torch.nn.Conv3d(c, 1, 1)

    def forward(self, x):
        skips = []
        for i, (a, b) in enumerate(self.enc):
            x = torch.relu(b(torch.relu(a(x))))
            if i < len(self.enc) - 1:
                skips.append(x)
                x = torch.nn.functional.max_pool3d(x, 2)
        for a, b in self.dec:
            x = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = torch.cat([x, skips.pop()], 1)
            x = torch.relu(b(torch.relu(a(x))))
        return torch.sigmoid(self.head(x))

    def convs(self):
        """(conv, relu-follows) in forward order."""
        out = []
        for a, b in self.enc:
            out += [(a, True), (b, True)]
        for a, b in self.dec:
            out += [(a, True), (b, True)]
        out.append((self.head, False))
        return out


def make_unet(widths, seed):
    torch.manual_seed(seed)
    net = UNet(widths).eval()
    # Kaiming-like init keeps activations in range through many levels; the
    # head bias pulls the output towards low probabilities like a real model.
    with torch.no_grad():
        for conv, _ in net.convs():
            fan = conv.in_channels * int(np.prod(conv.kernel_size))
            conv.weight.normal_(0, (2.0 / fan) ** 0.5)
            conv.bias.uniform_(-0.05, 0.05)
        net.head.bias.fill_(-1.0)
    return net


def calibrate(net, x):
    """Input range and output range (after Relu when one follows) of every conv."""
    ranges = []
    hooks = []
    for conv, relu in net.convs():
        def hook(mod, inp, out, relu=relu):
            o = torch.relu(out) if relu else out
            ranges.append((float(inp[0].min()), float(inp[0].max()), float(o.min()), float(o.max())))
        hooks.append(conv.register_forward_hook(hook))
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return ranges


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def init(self, p, arr):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(arr, n))
        return n

    def node(self, op, ins, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def qdq(self, x, lo, hi):
        """Quantize x to uint8 over [lo, hi] and dequantize again."""
        lo, hi = min(lo, 0.0), max(hi, 1e-6)
        scale = np.float32((hi - lo) / 255.0)
        zp = np.uint8(np.clip(round(-lo / scale), 0, 255))
        s = self.init("s", np.array(scale, np.float32))
        z = self.init("zp", np.array(zp, np.uint8))
        q = self.node("QuantizeLinear", [x, s, z])
        return self.node("DequantizeLinear", [q, s, z]), float(scale)

    def conv(self, x, conv, relu, q=None):
        """Conv (+Relu). q = (in_scale, out_lo, out_hi) makes it a QDQ conv."""
        w = conv.weight.detach().numpy().astype(np.float32)
        b = conv.bias.detach().numpy().astype(np.float32)
        k = list(conv.kernel_size)
        pads = [k[0] // 2] * 6
        if q is None:
            y = self.node("Conv", [x, self.init("w", w), self.init("b", b)], kernel_shape=k, pads=pads)
        else:
            in_scale, out_lo, out_hi = q
            ws = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(1), 1e-8) / 127.0
            wq = np.clip(np.round(w / ws.reshape(-1, 1, 1, 1, 1)), -127, 127).astype(np.int8)
            wdq = self.node("DequantizeLinear", [self.init("wq", wq), self.init("ws", ws.astype(np.float32)),
                                                 self.init("wzp", np.zeros(w.shape[0], np.int8))], axis=0)
            bs = (in_scale * ws).astype(np.float32)
            bq = np.round(b / bs).astype(np.int32)
            bdq = self.node("DequantizeLinear", [self.init("bq", bq), self.init("bs", bs),
                                                 self.init("bzp", np.zeros(w.shape[0], np.int32))], axis=0)
            y = self.node("Conv", [x, wdq, bdq], kernel_shape=k, pads=pads)
        if relu:
            y = self.node("Relu", [y])
        if q is not None:
            y, _ = self.qdq(y, q[1], q[2])
        return y

    def model(self, name, x, y, cin, cout):
        g = helper.make_graph(self.nodes, name,
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, cin, "d", "h", "w"])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, cout, "d", "h", "w"])],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="metsentry make_models.py")
        m.ir_version = 7
        onnx.checker.check_model(m)
        return m


def unet_onnx(net, ranges=None):
    """Writes net as an ONNX graph; with ranges, as an INT8 QDQ graph."""
    g = Graph()
    x = "input"
    convs = net.convs()
    ci = 0
    cur_scale = None

    def conv(x, c, relu):
        nonlocal ci, cur_scale
        q = None
        if ranges is not None:
            r = ranges[ci]
            if cur_scale is None:  # input not yet quantized (network input)
                x, cur_scale = g.qdq(x, r[0], r[1])
            q = (cur_scale, r[2], r[3])
        y = g.conv(x, c, relu, q)
        if ranges is not None:
            cur_scale = max(r[3] - min(r[2], 0), 1e-6) / 255.0
        ci += 1
        return y

    skips = []
    n = len(net.enc)
    for i, (a, b) in enumerate(net.enc):
        x = conv(conv(x, a, True), b, True)
        if i < n - 1:
            skips.append((x, cur_scale))
            x = g.node("MaxPool", [x], kernel_shape=[2, 2, 2], strides=[2, 2, 2])
    scales = g.init("scales", np.array([1, 1, 2, 2, 2], np.float32))
    for a, b in net.dec:
        x = g.node("Resize", [x, "", scales], mode="nearest", coordinate_transformation_mode="asymmetric",
                   nearest_mode="floor")
        s, s_scale = skips.pop()
        x = g.node("Concat", [x, s], axis=1)
        if ranges is not None:
            # Concat of two differently scaled tensors: requantize to one scale.
            r = ranges[ci]
            x, cur_scale = g.qdq(x, r[0], r[1])
        x = conv(conv(x, a, True), b, True)
    y = conv(x, net.head, False)
    y = g.node("Sigmoid", [y])
    return g.model("unet", "input", y, 2, 1)


def amx_model(cout, cin, seed):
    """One QDQ Conv3d cin->cout, 3x3x3 pad 1, calibrated over [-2, 2] inputs."""
    torch.manual_seed(seed)
    c = torch.nn.Conv3d(cin, cout, 3, padding=1).eval()
    x = torch.rand(1, cin, 12, 12, 12) * 4 - 2
    with torch.no_grad():
        y = c(x)
    g = Graph()
    xin, s = g.qdq("input", -2.0, 2.0)
    out = g.conv(xin, c, False, (s, float(y.min()), float(y.max())))
    return g.model(f"amx_conv_o{cout}_i{cin}", "input", out, cin, cout)


def amx_pair(cout, cin, seed):
    """A QDQ repro conv dressed as a model (2 channels in, output channel 0 read
    as the lesion map) with an fp32 twin, reference files and manifests, so the
    loader's self-test can be shown catching the AMX fault."""
    stem = f"conv_o{cout}_i{cin}"
    d = os.path.join(HERE, "amx")
    torch.manual_seed(seed)
    c = torch.nn.Conv3d(cin, cout, 3, padding=1).eval()
    x = torch.rand(1, cin, 12, 12, 12) * 4 - 2
    with torch.no_grad():
        y = c(x)
    # Output range widened by a quarter so the reference input does not clip.
    ylo, yhi = 1.25 * float(y.min()), 1.25 * float(y.max())
    g = Graph()
    xin, s = g.qdq("input", -2.0, 2.0)
    out = g.conv(xin, c, False, (s, ylo, yhi))
    onnx.save(g.model(stem, "input", out, cin, cout), os.path.join(d, f"{stem}-int8.onnx"))
    # fp32 twin: the int8 weights and biases, dequantized.
    w = c.weight.detach().numpy()
    ws = np.maximum(np.abs(w).reshape(cout, -1).max(1), 1e-8) / 127.0
    wdq = (np.clip(np.round(w / ws.reshape(-1, 1, 1, 1, 1)), -127, 127) * ws.reshape(-1, 1, 1, 1, 1)).astype(np.float32)
    bs = (s * ws).astype(np.float32)
    bdq = (np.round(c.bias.detach().numpy() / bs) * bs).astype(np.float32)
    c2 = torch.nn.Conv3d(cin, cout, 3, padding=1).eval()
    with torch.no_grad():
        c2.weight.copy_(torch.from_numpy(wdq))
        c2.bias.copy_(torch.from_numpy(bdq))
    g2 = Graph()
    onnx.save(g2.model(stem, "input", g2.conv("input", c2, False), cin, cout), os.path.join(d, f"{stem}-fp32.onnx"))
    gen = torch.Generator().manual_seed(seed + 1)
    ref_in = torch.rand(1, cin, 12, 12, 12, generator=gen) * 4 - 2
    with torch.no_grad():
        ref_out = c2(ref_in)
        # What the QDQ graph computes: quantized input, quantized output.
        xs = 4.0 / 255
        xq = torch.clamp(torch.round(ref_in / xs) + round(2.0 / xs), 0, 255)
        fq = c2((xq - round(2.0 / xs)) * xs)
        lo, hi = min(ylo, 0.0), max(yhi, 1e-6)
        out_step = float(np.float32((hi - lo) / 255.0))
        ozp = float(np.clip(round(-lo / out_step), 0, 255))
        fqq = (torch.clamp(torch.round(fq / out_step) + ozp, 0, 255) - ozp) * out_step
    # Tolerance: what exact QDQ arithmetic differs from the fp32 twin, plus one
    # output step for rounding; the AMX fault is hundreds of steps.
    int8_tol = 1.5 * float((fqq - ref_out).abs().max()) + out_step
    ref_in.numpy().astype("<f4").tofile(os.path.join(d, f"{stem}-ref-in.f32"))
    ref_out.numpy().astype("<f4").tofile(os.path.join(d, f"{stem}-ref-out.f32"))
    for prec, tol in (("fp32", 1e-4), ("int8", int8_tol)):
        m = {
            "schema": 1, "name": stem, "version": "0.0.0-test", "file": f"{stem}-{prec}.onnx",
            "sha256": sha256(os.path.join(d, f"{stem}-{prec}.onnx")), "opset": OPSET, "precision": prec,
            "channels": ["black", "bright"], "bright_only": False, "spacing_mm": [1, 1, 1],
            "normalisation": {"method": "zscore-mask"},
            "layout": {"mode": "whole", "multiple": 1},
            "output": {"meaning": "lesion-probability", "channel": 0, "threshold": 0.5, "min_component_mm3": 3},
            "reference": {"shape": [1, cin, 12, 12, 12], "input": f"{stem}-ref-in.f32",
                          "output": f"{stem}-ref-out.f32", "tolerance": round(tol, 6)},
        }
        with open(os.path.join(d, f"{stem}-{prec}.manifest.json"), "w") as f:
            json.dump(m, f, indent=1)
            f.write("\n")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_unet(stem, widths, seed, int8_tol):
    net = make_unet(widths, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    # Calibrate over two inputs: uniform noise like the self-test reference and
    # the sin/cos pattern the Go bench feeds (runtime/bench.Input); keep the
    # union of the ranges.
    calib = torch.rand(1, 2, 32, 32, 32, generator=gen) * 4 - 1
    i = np.arange(2 * 32 * 32 * 32, dtype=np.float64)
    pattern = torch.from_numpy((np.sin(i * 0.37) * 1.5 + np.cos(i * 0.011)).astype(np.float32).reshape(1, 2, 32, 32, 32))
    ranges = [(min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
              for a, b in zip(calibrate(net, calib), calibrate(net, pattern))]
    # The calibration hooks also record the inputs of the decoder's first conv
    # (the concatenation); unet_onnx reads them in the same order.
    onnx.save(unet_onnx(net), os.path.join(HERE, f"{stem}-fp32.onnx"))
    onnx.save(unet_onnx(net, ranges), os.path.join(HERE, f"{stem}-int8.onnx"))
    ref_in = torch.rand(1, 2, 16, 16, 16, generator=gen) * 4 - 1
    with torch.no_grad():
        ref_out = net(ref_in)
    ref_in.numpy().astype("<f4").tofile(os.path.join(HERE, f"{stem}-ref-in.f32"))
    ref_out.numpy().astype("<f4").tofile(os.path.join(HERE, f"{stem}-ref-out.f32"))
    multiple = 2 ** (len(widths) - 1)
    for prec, tol in (("fp32", 1e-4), ("int8", int8_tol)):
        m = {
            "schema": 1, "name": stem, "version": "0.0.0-test", "file": f"{stem}-{prec}.onnx",
            "sha256": sha256(os.path.join(HERE, f"{stem}-{prec}.onnx")), "opset": OPSET, "precision": prec,
            "channels": ["black", "bright"], "bright_only": False, "spacing_mm": [1, 1, 1],
            "normalisation": {"method": "zscore-mask"},
            "layout": {"mode": "whole", "multiple": multiple},
            "output": {"meaning": "lesion-probability", "channel": 0, "threshold": 0.5, "min_component_mm3": 3},
            "reference": {"shape": [1, 2, 16, 16, 16], "input": f"{stem}-ref-in.f32",
                          "output": f"{stem}-ref-out.f32", "tolerance": tol},
        }
        with open(os.path.join(HERE, f"{stem}-{prec}.manifest.json"), "w") as f:
            json.dump(m, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    write_unet("unet_tiny", [4, 8], 7, 0.15)
    write_unet("unet", [8, 16, 32, 64], 11, 0.15)
    os.makedirs(os.path.join(HERE, "amx"), exist_ok=True)
    for cout, cins in ((24, range(1, 4)), (30, range(1, 9))):
        for cin in cins:
            if (cout, cin) == (24, 2):
                amx_pair(cout, cin, 100 * cout + cin)
            else:
                onnx.save(amx_model(cout, cin, 100 * cout + cin), os.path.join(HERE, "amx", f"conv_o{cout}_i{cin}-int8.onnx"))
