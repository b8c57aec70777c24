package analyze

import (
	"crypto/sha256"
	"fmt"
	"math/big"

	"metsentry/firmware/report"
	"metsentry/runtime/manifest"
)

// ModelIdentity names a model for result UIDs: its name, version, precision
// and the SHA-256 of its file, so a different model (or a retrained one under
// the same name) gives new results, never a replacement of another model's.
func ModelIdentity(m *manifest.Manifest) string {
	return fmt.Sprintf("%s|%s|%s|%s", m.Name, m.Version, m.Precision, m.SHA256)
}

// DerivedUID is a UID under 2.25 (PS3.5 B.2) derived from parts: the first
// 128 bits of their SHA-256, with the UUID version 8 (name-based, custom
// hash) and variant bits set, written as a decimal integer.
func DerivedUID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s|", len(p), p)
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // variant 10
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}

// IDsFor derives the UIDs of one analysis's results from the source study
// and the model's identity (ModelIdentity): the same study read by the same
// model gets the same SEG, SR and SC series and instances, so a resend
// replaces the earlier results at the PACS instead of duplicating them.
// lesions and scImages size the tracking and SC instance UIDs.
func IDsFor(studyUID, model string, lesions, scImages int) report.IDs {
	d := func(what string, n int) string {
		return DerivedUID("metsentry-results", studyUID, model, what, fmt.Sprint(n))
	}
	ids := report.IDs{
		SEGSeries: d("seg-series", 0), SEGInstance: d("seg", 0),
		SRSeries: d("sr-series", 0), SRInstance: d("sr", 0),
		SCSeries: d("sc-series", 0),
	}
	for i := range lesions {
		ids.Tracking = append(ids.Tracking, d("tracking", i+1))
	}
	for i := range scImages {
		ids.SCInstances = append(ids.SCInstances, d("sc", i+1))
	}
	return ids
}
