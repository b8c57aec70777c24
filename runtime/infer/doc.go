// Package infer runs a model over a whole volume: in one pass when the pass
// fits the board's memory budget, else in overlapping tiles whose outputs are
// cut or blended back together, skipping tiles with nothing in them and
// stopping between tiles when the context is cancelled.
//
// It is pure Go. The model itself hides behind Engine, which runtime/model
// implements over ONNX Runtime, so detect and the daemon use inference without
// cgo and their tests can use a fake engine.
//
// Tensor layout is [1, C, D, H, W] (channels, then z, y, x), and every [3]int
// here is in (D, H, W) order.
//
// Why the tiles give the whole-volume answer: a voxel's output depends only on
// inputs within the network's receptive field, so inside a tile, away from the
// tile's cut edges by at least half the receptive field (Plan.Margin), the
// tile's output equals the whole-volume output. Each voxel takes its output
// from such tile interiors only: tiles overlap by at least 2×Margin and the
// weights (a partition of unity per axis, multiplied across axes) are zero
// within Margin of any edge where a tile was cut. Edges of the volume are not
// cuts: both passes see the same zero padding there. Networks that pool need
// tiles to start on multiples of 2^levels (Plan.Multiple) as well, which the
// planner keeps.
package infer
