// Package trust decides whether a model may run: its manifest must pass the
// schema, the model file must hash to the manifest's sha256, and an ed25519
// signature over both must verify against a public key in the trust store.
//
// Files, all beside each other:
//
//	metnet-int8.onnx                 the model
//	metnet-int8.manifest.json        its manifest (runtime/manifest), naming the model file and its sha256
//	metnet-int8.manifest.json.sig    the signature (below)
//
// The signature file is one JSON object:
//
//	{"format": "metsentry-model-sig-v1", "key_id": "<16 hex>",
//	 "manifest_sha256": "<64 hex>", "model_sha256": "<64 hex>",
//	 "files": {"<reference input>": "<64 hex>", "<reference output>": "<64 hex>"},
//	 "signature": "<base64 of 64 bytes>"}
//
// and the signed message is the UTF-8 text
//
//	"metsentry-model-sig-v1\n" + manifest_sha256 + "\n" + model_sha256 + "\n"
//	+ one "<name> <sha256>\n" line per files entry, sorted by name
//
// so a signature covers the exact manifest bytes (threshold, spacing, ...),
// through the sha256 the model, and the self-test reference files (a changed
// reference could otherwise hide a broken kernel). The digests in the file are
// recomputed from the files and must match.
//
// The trust store is a folder of public keys, one per file named *.pub, each a
// single line "metsentry-ed25519 <base64 32-byte key> [comment]". A key's id is
// the first 16 hex digits of the sha256 of its 32 bytes. Private keys (written
// by GenerateKey for the signing machine, never shipped) are one line
// "metsentry-ed25519-private <base64 32-byte seed>".
//
// Verify returns the model and reference bytes it hashed, so the caller
// loads exactly what was verified.
package trust
