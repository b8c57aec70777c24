#!/usr/bin/python3
"""Writes conv3d_sigmoid.onnx: the small real model runtime/ort's tests run.

One 3D convolution (2 input channels -> 3 output channels, kernel 3x3x3,
padding 1, bias) followed by a sigmoid, with dynamic spatial axes. The weights
follow a closed-form pattern so the Go test can recompute the output on its own
without reading them from the file:

    w[o,i,z,y,x] = ((o*7 + i*5 + z*3 + y*2 + x) % 11 - 5) / 20
    b[o]         = (o - 1) / 10

Run with Debian's python3-onnx: /usr/bin/python3 make_conv3d.py
"""
import onnx
from onnx import TensorProto, helper

O, I, K = 3, 2, 3
w = [((o * 7 + i * 5 + z * 3 + y * 2 + x) % 11 - 5) / 20.0
     for o in range(O) for i in range(I) for z in range(K) for y in range(K) for x in range(K)]
b = [(o - 1) / 10.0 for o in range(O)]

graph = helper.make_graph(
    nodes=[
        helper.make_node("Conv", ["input", "w", "b"], ["conv"], pads=[1] * 6, kernel_shape=[K] * 3),
        helper.make_node("Sigmoid", ["conv"], ["prob"]),
    ],
    name="conv3d_sigmoid",
    inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, I, "d", "h", "w"])],
    outputs=[helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, O, "d", "h", "w"])],
    initializer=[
        helper.make_tensor("w", TensorProto.FLOAT, [O, I, K, K, K], w),
        helper.make_tensor("b", TensorProto.FLOAT, [O], b),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="metsentry")
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, "conv3d_sigmoid.onnx")
