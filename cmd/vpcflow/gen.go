package main

import (
	"context"
	"io"
)

func cmdGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageError{"gen: not built yet"}
}

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageError{"dev: not built yet"}
}
