package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/vpcflow/vpcflow/internal/gen"
)

func cmdGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vpcflow gen [flags]\n\nWrites synthetic VPC flow logs, one record a line.\n\n")
		fs.PrintDefaults()
	}
	format := fs.String("format", "default", `"default", a version "v2".."v8", "tgw", or a custom format "${version} ${srcaddr} …"`)
	count := fs.Int("count", 1000, "records to write (0: until interrupted)")
	rate := fs.Float64("rate", 0, "records per second (0: as fast as possible)")
	enis := fs.Int("enis", 1000, "network interfaces to draw from")
	accounts := fs.Int("accounts", 1, "AWS accounts the interfaces belong to")
	region := fs.String("region", "us-east-1", "AWS region of the interfaces")
	seed := fs.Int64("seed", 1, "random seed (same seed, same output)")
	header := fs.Bool("header", false, "write the header line S3 delivery puts at the top of each object")
	out := fs.String("o", "-", `output file ("-": stdout); a name ending in .gz is gzip-compressed`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *count < 0 || *rate < 0 || *enis <= 0 || *accounts <= 0 {
		return usageError{"--count and --rate must not be negative; --enis and --accounts must be positive"}
	}
	cfg := gen.Config{Format: *format, Count: *count, Rate: *rate, ENIs: *enis, Accounts: *accounts,
		Region: *region, Seed: *seed, Header: *header}
	var w io.Writer = stdout
	var closers []func() error
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		closers = append(closers, f.Close)
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	w = bw
	if strings.HasSuffix(*out, ".gz") {
		zw := gzip.NewWriter(bw)
		closers = append([]func() error{zw.Close}, closers...)
		w = zw
	}
	err := gen.Run(ctx, w, cfg)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if len(closers) > 0 && strings.HasSuffix(*out, ".gz") {
		if cerr := closers[0](); err == nil {
			err = cerr
		}
		closers = closers[1:]
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	for _, c := range closers {
		if cerr := c(); err == nil {
			err = cerr
		}
	}
	return err
}
