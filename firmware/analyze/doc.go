// Package analyze is the appliance's one pipeline from a ready study to its
// result files: the daemon runs it on every ready job, and tools/evaluate and
// tools/realcheck call the same code, so a figure they report is a figure of
// what ships.
//
// The chain, one step per file:
//
//	Load     (study.go)   a ready cache.Job → its selected series read from
//	                      the cache and assembled by firmware/volume: a
//	                      VISIBLE pair (black + bright) or bright-only (the
//	                      bright series alone, Mode BrightOnly)
//	Network  (model.go)   volume.Prepare onto the manifest's grid, then
//	                      runtime/infer.Predict (whole or tiled): the lesion
//	                      probability on the model grid
//	SourceMap(model.go)   detect.OperatingMap (the manifest's rescore stage
//	                      for the study's mode, or the network's threshold),
//	                      less what lies mostly outside the brain
//	                      (detect.GateBrain on volume's BrainMask), sampled
//	                      back onto the source grid (tosource.go)
//	Detect   (model.go)   detect.Find on the source grid at the operating
//	                      point: the lesions, numbered largest first, and
//	                      their label mask
//	Analyze  (analyze.go) Load + Detect + report.Write: SEG (only when there
//	                      are lesions), SR (TID 1500, saying the mode) and the
//	                      annotated secondary-capture series, with UIDs
//	                      derived from the source study and the model's
//	                      identity (uids.go)
//
// The model is reached through Model, a plain struct holding a manifest, an
// infer.Engine and an infer.Plan: runtime/model's Model is an infer.Engine
// (the only cgo, opened by firmware/cmd/metsentryd and by the tools), and
// tests use pure-Go stand-ins. Nothing here imports ONNX Runtime.
//
// Result UIDs. A resend of a study (or a late series that reopens it) gives a
// new job, but the same study read by the same model gets the same series and
// instance UIDs (IDsFor), so the PACS replaces the earlier results instead of
// filing a second copy beside them.
//
// Analyze is safe to call from one goroutine at a time per Model (an
// infer.Engine need not be safe for concurrent use).
package analyze
