// Package intake decides when a received study is ready to be read and which
// of its series the detector reads.
//
// Completeness is decided per series (completeness.go):
//   - an Enhanced MR multi-frame instance is a whole series, complete on
//     receipt;
//   - once every association that carried the series is released
//     (Released): when its images agree on a count (ImagesInAcquisition, or
//     NumberOfSlices × NumberOfTemporalPositions, the same on every image)
//     and that many are stored; or when its slice positions form one regular
//     stack with no gap (a GE series announces 1 on every slice, so its
//     count cannot be trusted);
//   - otherwise after a quiet period with no new instance (20 s by
//     default), the fallback when nothing tells the count; but not when
//     the images announce more than arrived, nor, for a series with no
//     count to trust, when the association that fed it last was cut (Cut:
//     aborted, broken, an instance refused; or a restart, since clean
//     releases are recorded in the cache): that part waits for the
//     sender's resend or max_wait.
//
// A study is ready when the series its selection rule needs are complete and
// no series still arriving could change the choice; after the maximum wait
// (15 min by default) the site's action applies: proceed with what is there,
// or discard. An aborted association is not a release.
// Instances that arrive after a study was decided reopen it (the cache makes
// a new job), so they lead to a new job and a new result series.
//
// Series selection (rules.go) follows the site's declarative rules: a VISIBLE
// pair (black-blood and bright-blood series of one acquisition, same frame of
// reference and geometry) first, then (when the site enables it) one series
// holding both VISIBLE image sets told apart by ImageType or EchoNumbers —
// the job then names the instances of each role — then the bright-blood
// series of a VISIBLE acquisition with no black-blood series beside it (a
// bright-only study, RuleBrightOnly), else a single
// post-contrast 3D T1; ties are broken by instance count. Every decision and every skipped series is written
// to the cache's audit log with its reason.
//
// All state lives in the cache and every decision is made inside one cache
// Update, so a study becomes ready exactly once, even across crashes. Time
// comes from an injected clock; tests call Evaluate directly and never sleep.
package intake
