package sinkbuf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Buffer types and when_full values.
const (
	TypeMemory = "memory"
	TypeDisk   = "disk"

	// WhenFullBlock makes a full buffer wait for room: backpressure, as a
	// sink without a buffer.
	WhenFullBlock = "block"
	// WhenFullDropNewest drops the batch that does not fit, counted in
	// vpcflow_sink_buffer_dropped_records_total and logged.
	WhenFullDropNewest = "drop_newest"
)

// MinBytes is the smallest max_bytes accepted: below it a buffer holds
// only a few batches and buys nothing.
const MinBytes = 1 << 20

// Config is a sink's `buffer:` key.
type Config struct {
	// Type is memory or disk.
	Type string `yaml:"type"`
	// MaxBytes bounds the buffer: ready copies and frames in memory, or
	// segment files on disk. An integer, or a string such as "512MiB" or "2GB".
	// Default 64MiB for memory, 1GiB for disk.
	MaxBytes Size `yaml:"max_bytes"`
	// Path is the directory of disk buffers; the buffer of sink <id> lives
	// in <path>/<id>, so several sinks may share one volume.
	Path string `yaml:"path"`
	// WhenFull is block (default: backpressure) or drop_newest.
	WhenFull string `yaml:"when_full"`
}

// Size is a number of bytes, written as an integer or with a unit (KB, MB,
// GB, KiB, MiB, GiB).
type Size int64

// UnmarshalYAML accepts 1048576, "1048576", "1MiB", "64 MB".
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSize parses a byte count with an optional unit.
func ParseSize(in string) (Size, error) {
	str := strings.TrimSpace(in)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}} {
		if strings.HasSuffix(str, u.suffix) {
			str, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(str, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (a byte count such as 1073741824 or 1GiB)", in)
	}
	return Size(v * mult), nil
}

// ApplyDefaults fills in max_bytes and when_full.
func (c *Config) ApplyDefaults() {
	if c.MaxBytes == 0 {
		if c.Type == TypeDisk {
			c.MaxBytes = 1 << 30
		} else {
			c.MaxBytes = 64 << 20
		}
	}
	if c.WhenFull == "" {
		c.WhenFull = WhenFullBlock
	}
}

// Validate checks the keys; with a disk buffer, that path can be created
// and written and that max_bytes fits the file system. Errors name the
// key.
func (c *Config) Validate() error {
	var errs []error
	switch c.Type {
	case TypeMemory, TypeDisk:
	case "":
		errs = append(errs, errors.New("type: missing (memory or disk)"))
	default:
		errs = append(errs, fmt.Errorf("type: must be memory or disk, got %q", c.Type))
	}
	switch c.WhenFull {
	case "", WhenFullBlock, WhenFullDropNewest:
	default:
		errs = append(errs, fmt.Errorf("when_full: must be block or drop_newest, got %q", c.WhenFull))
	}
	if c.MaxBytes != 0 && c.MaxBytes < MinBytes {
		errs = append(errs, fmt.Errorf("max_bytes: %d is below the minimum of %d (1MiB)", c.MaxBytes, MinBytes))
	}
	switch {
	case c.Type == TypeMemory && c.Path != "":
		errs = append(errs, errors.New("path: only a disk buffer has a path"))
	case c.Type == TypeDisk && c.Path == "":
		errs = append(errs, errors.New("path: missing (the directory of the disk buffer)"))
	case c.Type == TypeDisk:
		if err := checkWritable(c.Path); err != nil {
			errs = append(errs, fmt.Errorf("path: %w", err))
		} else if total, ok := fsSize(c.Path); ok && c.MaxBytes > 0 && int64(c.MaxBytes) > total {
			errs = append(errs, fmt.Errorf("max_bytes: %d is more than the whole file system of %s (%d bytes)", c.MaxBytes, c.Path, total))
		}
	}
	return errors.Join(errs...)
}

// checkWritable creates dir if needed and writes and removes a file in it.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".vpcflow-write-test-*")
	if err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(filepath.Clean(name))
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
