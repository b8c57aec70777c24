package outbox_test

import (
	"context"
	"time"

	"metsentry/firmware/config"
	"metsentry/firmware/outbox"
	"metsentry/firmware/report"
)

// The daemon builds one outbox from the site's destinations, queues each
// analysis's results, and runs due attempts whenever NextDue says so.
func Example() {
	site := &config.Site{AETitle: "METSENTRY", Destinations: []config.Destination{
		{Name: "pacs", AETitle: "PACS", Host: "192.168.10.5", Port: 104, Send: []string{"seg", "sr", "sc"}},
		{Name: "console", AETitle: "MRC1", Host: "192.168.10.7", Port: 104, Send: []string{"sr", "sc"}},
	}}
	ob, err := outbox.New(site.Destinations, &outbox.DimseSender{CallingAE: site.AETitle}, outbox.SystemClock{}, outbox.DefaultPolicy)
	if err != nil {
		return
	}
	files := report.Files{SEG: "/var/lib/metsentry/results/x/seg.dcm", SR: "/var/lib/metsentry/results/x/sr.dcm"}
	if _, err := ob.Enqueue("1.2.840.99999.1", "source-version-1", files); err != nil {
		return
	}
	ctx := context.Background()
	for {
		next, ok := ob.NextDue()
		if !ok {
			break
		}
		time.Sleep(time.Until(next))
		ob.RunDue(ctx)
		_ = ob.Status() // shown on the service console
	}
}
