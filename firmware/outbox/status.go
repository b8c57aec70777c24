package outbox

import "time"

// JobStatus is one job as the service console shows it: no patient data,
// the series only as a hash.
type JobStatus struct {
	ID          string
	Destination string
	Series      string // HashUID of the source series
	State       State
	Attempts    int
	NextAttempt time.Time // zero unless pending
	LastError   string
	Files       int // in the job
	Sent        int
	Refused     int
}

// Status counts jobs by state and lists those not delivered.
type Status struct {
	Pending, Delivered, Dead, Superseded int
	// Jobs lists pending and dead jobs, oldest first.
	Jobs []JobStatus
}

// Status reports the outbox for the console and the front panel.
func (o *Outbox) Status() Status {
	var s Status
	for _, j := range o.Jobs() {
		switch j.State {
		case Pending:
			s.Pending++
		case Delivered:
			s.Delivered++
		case Dead:
			s.Dead++
		case Superseded:
			s.Superseded++
		}
		if j.State != Pending && j.State != Dead {
			continue
		}
		js := JobStatus{ID: j.ID, Destination: j.Destination, Series: HashUID(j.SeriesUID), State: j.State,
			Attempts: j.Attempts, LastError: j.LastError, Files: len(j.Files)}
		if j.State == Pending {
			js.NextAttempt = j.NextAttempt
		}
		for _, f := range j.Files {
			switch f.State {
			case FileSent:
				js.Sent++
			case FileRefused:
				js.Refused++
			}
		}
		s.Jobs = append(s.Jobs, js)
	}
	return s
}
