// Command yaml2json reads a stream of YAML documents (the output of helm
// template) on stdin and writes each non-empty one as a line of JSON, for
// jq assertions in .ci/check-deploy.sh.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

func main() {
	if err := convert(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "yaml2json:", err)
		os.Exit(1)
	}
}

func convert(r io.Reader, w io.Writer) error {
	dec := yaml.NewDecoder(r)
	enc := json.NewEncoder(w)
	for n := 1; ; n++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
		if doc == nil {
			continue
		}
		if err := enc.Encode(doc); err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
	}
}
