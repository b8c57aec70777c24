#!/usr/bin/env python3
"""Exports a trained MetNet to ONNX: fp32, and INT8 with Q/DQ pairs.

    python3 models/recipe/export.py --weights out/train/metnet.pt --calib out/trainset/val \
        --out models/metnet [--base 8]

Writes, into --out:
    metnet-fp32.onnx       opset 13, input "input" [1, 2, D, H, W] (black, bright),
                           output "prob" [1, 1, D, H, W], dynamic spatial axes;
                           the decoder split (unet.SplitDecoder: the same
                           function, 0.6-0.7 of the plain graph's time on
                           ONNX Runtime's CPU provider)
    metnet-int8.onnx       the plain graph with QuantizeLinear/DequantizeLinear:
                           per-channel symmetric int8 weights, int32 biases, uint8
                           activations calibrated on --calib cases, a Q/DQ pair
                           before every Conv input and after every Relu, so ONNX
                           Runtime fuses each Conv into QLinearConv and TensorRT
                           builds an INT8 engine from the same file
    ref-input.f32          a 32x32x32 crop of a calibration case (little-endian)
    ref-fp32.f32, ref-int8.f32
                           what each model must return on it: fp32 computed by
                           PyTorch, int8 by PyTorch simulating the Q/DQ graph
                           (fake quantisation); the appliance's start-up
                           self-test compares ONNX Runtime's output to these
    export.json            shapes, calibration ranges, reference differences

Runs on the CPU with Debian's python3-torch 1.13 and python3-onnx 1.12.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import unet  # noqa: E402


def calibrate(net, cases, crop=128):
    """Records the input range of every Conv3d and the output range of every
    ReLU, in call order, over centred crops of the calibration cases."""
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    relus = [m for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    conv_rng = [[np.inf, -np.inf] for _ in convs]
    relu_rng = [[0.0, -np.inf] for _ in relus]
    hooks = []
    for i, m in enumerate(convs):
        def pre(mod, inp, i=i):
            x = inp[0]
            # 99.999th percentile rather than the max: one hot voxel must not
            # stretch the scale of a whole layer.
            flat = x.flatten().float()
            k = max(1, int(flat.numel() * 1e-5))
            hi = flat.topk(k).values[-1].item()
            lo = -(-flat).topk(k).values[-1].item()
            conv_rng[i][0] = min(conv_rng[i][0], lo)
            conv_rng[i][1] = max(conv_rng[i][1], hi)
        hooks.append(m.register_forward_pre_hook(pre))
    for i, m in enumerate(relus):
        def post(mod, inp, out, i=i):
            flat = out.flatten().float()
            k = max(1, int(flat.numel() * 1e-5))
            relu_rng[i][1] = max(relu_rng[i][1], flat.topk(k).values[-1].item())
        hooks.append(m.register_forward_hook(post))
    with torch.no_grad():
        for c in cases:
            d, h, w = c.dims
            z0, y0, x0 = [max(0, (n - crop) // 2) for n in (d, h, w)]
            x = torch.from_numpy(c.input[:, z0:z0 + crop, y0:y0 + crop, x0:x0 + crop].astype(np.float32))[None]
            net(x)
            xb = x.clone()
            xb[:, 0] = 0  # bright-only mode is part of the operating range
            net(xb)
    for hk in hooks:
        hk.remove()
    return convs, relus, conv_rng, relu_rng


def qparams_u8(lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    zp = int(np.clip(round(-lo / scale), 0, 255))
    return np.float32(scale), np.uint8(zp)


def quantize_weights(w):
    """Per-output-channel symmetric int8."""
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scale = np.maximum(amax, 1e-12) / 127.0
    q = np.clip(np.round(w / scale.reshape(-1, 1, 1, 1, 1)), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def build_int8(fp32_path, out_path, conv_rng, relu_rng):
    model = onnx.load(fp32_path)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    conv_nodes = [n for n in g.node if n.op_type == "Conv"]
    relu_nodes = [n for n in g.node if n.op_type == "Relu"]
    if len(conv_nodes) != len(conv_rng) or len(relu_nodes) != len(relu_rng):
        raise SystemExit(f"export: graph has {len(conv_nodes)} Conv and {len(relu_nodes)} Relu nodes, "
                         f"calibration saw {len(conv_rng)} and {len(relu_rng)}")
    new_nodes, new_inits = [], []
    qdq_of = {}  # tensor name -> dequantised tensor name

    def qdq(name, scale, zp, tag):
        if name in qdq_of:
            return qdq_of[name]
        s, z = f"{tag}_scale", f"{tag}_zp"
        new_inits.append(numpy_helper.from_array(np.array(scale, np.float32), s))
        new_inits.append(numpy_helper.from_array(np.array(zp, np.uint8), z))
        q, dq = f"{tag}_q", f"{tag}_dq"
        new_nodes.append(("before", name, helper.make_node("QuantizeLinear", [name, s, z], [q], name=f"{tag}_Q")))
        new_nodes.append(("before", name, helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"{tag}_DQ")))
        qdq_of[name] = dq
        return dq

    sim = {"conv": [], "relu": []}
    # Relu outputs: Q/DQ right after, every consumer reads the dequantised value.
    relu_out = {}
    for i, n in enumerate(relu_nodes):
        s, z = qparams_u8(0.0, relu_rng[i][1])
        relu_out[n.output[0]] = (s, z, f"relu{i}")
        sim["relu"].append((float(s), int(z)))
    for i, n in enumerate(conv_nodes):
        x, w, b = n.input[0], n.input[1], n.input[2]
        if x in relu_out:
            s_x, z_x, tag = relu_out[x]
            sim["conv"].append(None)  # input already quantised by the Relu's pair
        else:
            s_x, z_x = qparams_u8(*conv_rng[i])
            tag = f"conv{i}_in"
            sim["conv"].append((float(s_x), int(z_x)))
        n.input[0] = qdq(x, s_x, z_x, tag)
        wf = numpy_helper.to_array(inits[w]).astype(np.float32)
        wq, ws = quantize_weights(wf)
        bf = numpy_helper.to_array(inits[b]).astype(np.float64)
        bs = (np.float64(s_x) * ws.astype(np.float64))
        bq = np.clip(np.round(bf / bs), -2**31, 2**31 - 1).astype(np.int32)
        for name, arr in ((f"{w}_int8", wq), (f"{w}_scale", ws), (f"{w}_zp", np.zeros(len(ws), np.int8)),
                          (f"{b}_int32", bq), (f"{b}_scale", bs.astype(np.float32)), (f"{b}_zp", np.zeros(len(ws), np.int32))):
            new_inits.append(numpy_helper.from_array(arr, name))
        new_nodes.append(("before", n.output[0], helper.make_node(
            "DequantizeLinear", [f"{w}_int8", f"{w}_scale", f"{w}_zp"], [f"{w}_dq"], axis=0, name=f"conv{i}_w_DQ")))
        new_nodes.append(("before", n.output[0], helper.make_node(
            "DequantizeLinear", [f"{b}_int32", f"{b}_scale", f"{b}_zp"], [f"{b}_dq"], axis=0, name=f"conv{i}_b_DQ")))
        n.input[1], n.input[2] = f"{w}_dq", f"{b}_dq"
    # Rewire Relu consumers to the dequantised output.
    for n in g.node:
        if n.op_type == "Relu":
            continue
        for k, name in enumerate(n.input):
            if name in relu_out and not name.endswith("_dq"):
                n.input[k] = qdq(name, *relu_out[name])
    for n in relu_nodes:  # graph outputs never come straight from a Relu here
        qdq(n.output[0], *relu_out[n.output[0]])
    # Insert the new nodes right after the producer of the tensor they read,
    # keeping the graph topologically sorted.
    produced_at = {}
    nodes = list(g.node)
    for idx, n in enumerate(nodes):
        for o in n.output:
            produced_at[o] = idx
    buckets = {}
    for _, tensor, node in new_nodes:
        src = node.input[0]
        at = produced_at.get(src, -1)
        buckets.setdefault(at, []).append(node)
    ordered = buckets.get(-1, [])
    for idx, n in enumerate(nodes):
        ordered.append(n)
        ordered.extend(buckets.get(idx, []))
    # DQ nodes of a Q must come after that Q: a stable sort by dependency.
    done, out = set(t.name for t in g.input) | set(t.name for t in g.initializer) | set(t.name for t in new_inits), []
    pending = ordered
    while pending:
        rest = []
        for n in pending:
            if all(i in done or i == "" for i in n.input):
                out.append(n)
                done.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise SystemExit("export: cannot order the quantised graph")
        pending = rest
    del g.node[:]
    g.node.extend(out)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep + [t for t in new_inits if t.name in used])
    onnx.checker.check_model(model)
    onnx.save(model, out_path)
    return sim


def fake_quant_forward(net, x, convs, relus, sim):
    """Runs net in PyTorch the way the Q/DQ graph computes: each quantised
    tensor rounded to its uint8 grid, weights to their int8 grid, biases to
    their int32 grid."""
    def fq(t, s, z):
        return (torch.clamp(torch.round(t / s) + z, 0, 255) - z) * s
    import copy
    net = copy.deepcopy(net)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    relus = [m for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    hooks = []
    in_scale = []
    for i, m in enumerate(convs):
        wq, ws = quantize_weights(m.weight.detach().numpy())
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(wq.astype(np.float32) * ws.reshape(-1, 1, 1, 1, 1)))
        in_scale.append(ws)
    # Each conv's input scale: its own pair, or the Relu pair that feeds it.
    relu_of_conv = {}
    order = []
    for i, m in enumerate(convs):
        def pre(mod, inp, i=i):
            p = sim["conv"][i]
            x = inp[0]
            if p is not None:
                x = fq(x, *p)
            s_x = p[0] if p is not None else relu_of_conv[i]
            bs = s_x * in_scale[i].astype(np.float64)
            with torch.no_grad():
                mod.bias.copy_(torch.from_numpy((np.round(mod._orig_bias / bs) * bs).astype(np.float32)))
            return (x,)
        m._orig_bias = m.bias.detach().numpy().astype(np.float64).copy()
        hooks.append(m.register_forward_pre_hook(pre))
    for i, m in enumerate(relus):
        def post(mod, inp, out, i=i):
            order.append(i)
            return fq(out, *sim["relu"][i])
        hooks.append(m.register_forward_hook(post))
    # Map: conv k whose input is the output of relu r (in a U-Net every conv but
    # the first of each encoder level after pooling and the decoder's first conv
    # reads a Relu directly; those read pools/concats of Relu outputs, which
    # stay on the same grid, so their pair is their own).
    for i in range(len(convs)):
        if sim["conv"][i] is None:
            relu_of_conv[i] = sim["relu"][sim["relu_feeding"][i]][0]
    with torch.no_grad():
        y = torch.sigmoid(net(x))
    for hk in hooks:
        hk.remove()
    return y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--base", type=int, default=8)
    ap.add_argument("--calib-cases", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(a.out, exist_ok=True)
    net = unet.MetNet(in_channels=2, base=a.base)
    net.load_state_dict(torch.load(a.weights, map_location="cpu"))
    folded = unet.fold_batchnorm(net.eval())
    exp = unet.Exported(folded).eval()

    # The plain graph (concatenation, Expand upsampling) is what INT8 is
    # built from; metnet-fp32.onnx is the same function with the decoder
    # split (unet.SplitDecoder), faster on ONNX Runtime's CPU provider.
    fp32 = os.path.join(a.out, "metnet-fp32.onnx")
    tmp = tempfile.TemporaryDirectory()
    plain = os.path.join(tmp.name, "metnet-fp32-plain.onnx")
    decoder = unet.SplitDecoder(folded).eval()
    split = unet.Exported(decoder).eval()
    dummy = torch.zeros(1, 2, 32, 32, 32)
    axes = {"input": {2: "d", 3: "h", 4: "w"}, "prob": {2: "d", 3: "h", 4: "w"}}
    for module, path in ((exp, plain), (split, fp32)):
        torch.onnx.export(module, dummy, path, opset_version=13, input_names=["input"], output_names=["prob"],
                          dynamic_axes=axes, do_constant_folding=True)
        onnx.checker.check_model(onnx.load(path))

    cases = data.load_split(a.calib)[: a.calib_cases]
    convs, relus, conv_rng, relu_rng = calibrate(folded, cases)
    int8 = os.path.join(a.out, "metnet-int8.onnx")
    sim = build_int8(plain, int8, conv_rng, relu_rng)

    # Which Relu feeds each conv whose input is a Relu output, from the graph.
    g = onnx.load(plain).graph
    tmp.cleanup()
    relu_idx = {n.output[0]: i for i, n in enumerate(n for n in g.node if n.op_type == "Relu")}
    sim["relu_feeding"] = {i: relu_idx.get(n.input[0]) for i, n in enumerate(n for n in g.node if n.op_type == "Conv")}

    c = cases[0]
    d, h, w = c.dims
    z0, y0, x0 = (d - 32) // 2, (h - 32) // 2, (w - 32) // 2
    ref_in = np.ascontiguousarray(c.input[:, z0:z0 + 32, y0:y0 + 32, x0:x0 + 32].astype(np.float32))[None]
    x = torch.from_numpy(ref_in)
    with torch.no_grad():
        ref_fp32 = exp(x).numpy()
        # The split graph computes what the plain one does, to rounding (on
        # 0.6.0's reference crop the logits differ by about 1e-5 in 50).
        split_logit_diff = float((folded(x) - decoder(x)).abs().max())
    if split_logit_diff > 1e-3:
        raise SystemExit(f"export: the split decoder's logits differ from the plain network's by {split_logit_diff}")
    ref_int8 = fake_quant_forward(folded, x, convs, relus, sim).numpy()
    ref_in.astype("<f4").tofile(os.path.join(a.out, "ref-input.f32"))
    ref_fp32.astype("<f4").tofile(os.path.join(a.out, "ref-fp32.f32"))
    ref_int8.astype("<f4").tofile(os.path.join(a.out, "ref-int8.f32"))
    info = {"base": a.base, "levels": folded.levels, "receptive_field_vox": unet.receptive_field(folded.levels),
            "ref_shape": list(ref_in.shape), "ref_case": c.name,
            "int8_vs_fp32_max_abs": float(np.abs(ref_int8 - ref_fp32).max()),
            "fp32_split_vs_plain_logit_max_abs": split_logit_diff,
            "calibration_cases": [cc.name for cc in cases],
            "conv_input_ranges": conv_rng, "relu_output_max": [r[1] for r in relu_rng]}
    with open(os.path.join(a.out, "export.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps({k: info[k] for k in ("ref_shape", "int8_vs_fp32_max_abs")}))


if __name__ == "__main__":
    main()
