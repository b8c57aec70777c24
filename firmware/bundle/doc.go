// Package bundle is the signed update bundle: the firmware binary and its
// models in one file that a field engineer carries to an offline site on a
// USB stick. tools/bundle builds and signs one (Build); firmware/update
// verifies it (Open) and unpacks it into a slot (Extract).
//
// A bundle file is three parts, every byte of it covered by the signature:
//
//	metsentry-bundle-v1\n                        Magic, exact
//	{"format":"metsentry-bundle-sig-v1",...}\n    Signature: key_id, payload_sha256, payload_size, signature
//	<payload>                                     gzip tar: bundle.json, then the files it lists, in its order
//
// The signature is ed25519 over Message ("metsentry-bundle-sig-v1\n" +
// payload sha256 + "\n" + size + "\n"), by a key of the same trust store
// the models are verified with (runtime/trust: key files, key ids,
// Store.VerifyMessage), so one vendor key, installed once, vouches for both.
//
// bundle.json (Manifest) names the release's version, the firmware's path
// (bin/metsentryd), the models (their manifests under models/, with the
// versions and precision those manifests declare) and every file with its
// size and sha256. The models keep their own signatures: the daemon
// verifies them again when it loads them from the slot.
//
// Open checks in order and refuses at the first failure, saying what
// failed: the first line, the signature block's form, its key against the
// trust store, the signature, the payload's sha256 and size, then the
// payload's layout and each file's size and sha256. Parsing is bounded
// (MaxFiles, MaxFileBytes, MaxPayloadBytes; clean relative paths only) and
// starts only after the payload's digest matched the signature. Extract
// streams the bundle again and re-checks every digest while writing, so a
// bundle replaced between Open and Extract is refused too.
package bundle
