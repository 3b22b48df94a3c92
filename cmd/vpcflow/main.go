// Command vpcflow reads VPC flow logs from message buses, S3 or files,
// parses, filters and enriches them, and delivers them to HTTP collectors
// and files.
//
// Usage:
//
//	vpcflow run --config FILE        run a pipeline
//	vpcflow validate --config FILE   check a pipeline file (exit 2 when wrong)
//	vpcflow gen [flags]              write synthetic flow logs
//	vpcflow dev [flags]              the whole pipeline on embedded stand-ins
//	vpcflow top [--url URL] [--once] live rates of a running instance
//	vpcflow tap COMPONENT [flags]    a sample of the records leaving a component
//	vpcflow version                  print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `vpcflow: VPC flow logs from Kafka, Kinesis, S3 or files to HTTP collectors

Usage:
  vpcflow run --config FILE        run a pipeline
  vpcflow validate --config FILE   check a pipeline file without running it
  vpcflow gen [flags]              write synthetic flow logs (vpcflow gen -h)
  vpcflow dev [flags]              run the whole pipeline on embedded stand-ins
  vpcflow top [--url URL] [--once] live rates of a running instance, per component
  vpcflow tap COMPONENT [flags]    a sample of the records leaving a component (vpcflow tap -h)
  vpcflow version                  print the version
`)
}

// exit codes
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(ctx, rest, stdout, stderr)
	case "validate":
		err = cmdValidate(rest, stdout, stderr)
	case "gen":
		err = cmdGen(ctx, rest, stdout, stderr)
	case "dev":
		err = cmdDev(ctx, rest, stdout, stderr)
	case "top":
		err = cmdTop(ctx, rest, stdout, stderr)
	case "tap":
		err = cmdTap(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "vpcflow %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "vpcflow: unknown command %q\n\n", cmd)
		usage(stderr)
		return exitUsage
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vpcflow %s: %v\n", cmd, err)
		return exitUsage
	case isConfigError(err):
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "vpcflow %s: %v\n", cmd, err)
		return exitFailed
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
