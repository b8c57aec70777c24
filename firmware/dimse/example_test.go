package dimse_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"

	"metsentry/firmware/dimse"
)

// A C-STORE SCP that accepts CONSOLE from one subnet, and an SCU that checks
// the link with C-ECHO.
func Example() {
	dir, err := os.MkdirTemp("", "dimse-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv := &dimse.Server{
		Policy: dimse.Policy{
			AETitle:      "METSENTRY",
			AllowedPeers: []dimse.Peer{{AETitle: "CONSOLE", Prefix: netip.MustParsePrefix("127.0.0.0/8")}},
		},
		Storage: dimse.DirStorage{Dir: dir},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	go srv.Serve(ctx, ln)
	defer srv.Shutdown(ctx)

	a, err := dimse.Dial(ctx, ln.Addr().String(), "CONSOLE", "METSENTRY", dimse.VerificationContext())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("echo:", a.Echo(ctx))
	fmt.Println("release:", a.Release(ctx))
	// Output:
	// echo: <nil>
	// release: <nil>
}
