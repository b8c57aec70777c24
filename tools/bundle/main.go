// Command bundle builds, signs and checks metsentry update bundles
// (firmware/bundle): the daemon binary and its signed models in one file,
// signed with ed25519 by a key of the models' trust store.
//
//	go run ./tools/bundle keygen -dir ~/keys -name metsentry-updates
//	go run ./tools/bundle build -version 1.4.0 -firmware bin/metsentryd \
//	    -model models/metnet/metnet-int8.manifest.json -model models/metnet/metnet-fp32.manifest.json \
//	    -trust models/trust -key ~/keys/metsentry-models.key -out dist/metsentry-1.4.0.bundle
//	go run ./tools/bundle verify -trust models/trust dist/metsentry-1.4.0.bundle
//
// build refuses a model that does not verify against -trust (a bundle never
// carries a model the appliance would refuse). verify checks a bundle as
// the appliance does before installing it (firmware/update) and prints its
// manifest; it exits 1, saying what failed, for a bundle signed by a key
// -trust lacks or changed in any byte.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"metsentry/firmware/bundle"
	"metsentry/runtime/trust"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = "usage: bundle build|verify|keygen [flags] (see -h of each)"

func run(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "build":
		return build(args[1:], stdout, stderr)
	case "verify":
		return verify(args[1:], stdout, stderr)
	case "keygen":
		return keygen(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "bundle: unknown command %q; %s\n", args[0], usage)
	return 2
}

func build(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bundle build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "release version (letters, digits and .+_~-)")
	firmware := fs.String("firmware", "bin/metsentryd", "the daemon binary to ship")
	var models stringList
	fs.Var(&models, "model", "signed model manifest; repeat, preferred first")
	trustDir := fs.String("trust", "models/trust", "folder of trusted public keys the models must verify against")
	key := fs.String("key", "", "private key file to sign the bundle with (its public key must be in the appliance's trust store)")
	out := fs.String("out", "", "bundle file to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version == "" || *key == "" || *out == "" || len(models) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "bundle build: -version, -key, -out and at least one -model are required")
		return 2
	}
	store, err := trust.LoadStore(*trustDir)
	if err != nil {
		fmt.Fprintf(stderr, "bundle build: -trust: %v\n", err)
		return 1
	}
	k, err := trust.LoadPrivateKey(*key)
	if err != nil {
		fmt.Fprintf(stderr, "bundle build: -key: %v\n", err)
		return 1
	}
	m, err := bundle.Build(bundle.Spec{Version: *version, Firmware: *firmware, Models: models, ModelStore: store}, k, *out)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: signed by key %s\n", *out, trust.KeyID(k.Public().(ed25519.PublicKey)))
	describe(stdout, m)
	return 0
}

func verify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bundle verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	trustDir := fs.String("trust", "models/trust", "folder of trusted public keys")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "bundle verify: give one bundle file")
		return 2
	}
	store, err := trust.LoadStore(*trustDir)
	if err != nil {
		fmt.Fprintf(stderr, "bundle verify: -trust: %v\n", err)
		return 1
	}
	b, err := bundle.Open(fs.Arg(0), store)
	if err != nil {
		fmt.Fprintf(stderr, "REFUSED: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok, signed by trusted key %s\n", fs.Arg(0), b.KeyID)
	describe(stdout, b.Manifest)
	return 0
}

func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bundle keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "folder to write <name>.pub and <name>.key into")
	name := fs.String("name", "metsentry-updates", "key name")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	id, err := trust.KeyGen(rand.Reader, *dir, *name)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "key %s: %s.pub goes into the appliance's trust store; keep %s.key on the signing machine only\n", id, *name, *name)
	return 0
}

// describe prints a manifest: version, models, files.
func describe(w io.Writer, m *bundle.Manifest) {
	fmt.Fprintf(w, "version %s, firmware %s\n", m.Version, m.Firmware)
	for _, md := range m.Models {
		fmt.Fprintf(w, "model %s %s (%s): %s\n", md.Name, md.Version, md.Precision, md.Manifest)
	}
	for _, f := range m.Files {
		fmt.Fprintf(w, "  %s  %10d  %s\n", f.SHA256, f.Size, f.Path)
	}
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
