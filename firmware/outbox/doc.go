// Package outbox delivers an analysis's results (SEG, SR, secondary
// capture) to the site's destinations and keeps at it until they arrive.
//
// One Job is one result set for one destination: only the kinds the
// destination accepts (config.Destination.Send) go into it. Each delivery
// attempt is one association (Sender.Send) carrying the job's files not yet
// delivered, so a file stored on an earlier attempt is never sent again. A
// failed attempt counts once per job, never per file; the next attempt waits
// a capped exponential backoff (Policy), and after Policy.MaxAttempts failed
// attempts the job is dead-lettered: it stays visible in Status until a
// field engineer retries it. A file the destination refuses outright (it
// accepts no such SOP class: ErrRefused) is not retried.
//
// Results belong to one version of the source series. Before each attempt
// the outbox asks the injected SourceVersion for the series' current
// version; if it changed (more images arrived, or a resend), the job is
// superseded and Regenerate is called so the daemon recomputes the results,
// which come back through Enqueue. Newer results for the same series and
// destination supersede older jobs too.
//
// Time comes from an injected Clock, so tests drive retries without
// sleeping. The daemon calls RunDue when NextDue says so; Persist hands it
// every changed job to record in the cache, and Restore brings them back
// after a restart.
// DimseSender (sender.go) is the production Sender over firmware/dimse.
package outbox
