package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// memoryLimitLogged runs the binary on an empty pipeline and returns the
// go_memory_limit_bytes of its "memory limit" log line (0: none).
func memoryLimitLogged(t *testing.T, cmd *exec.Cmd) int64 {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var ev struct {
			Msg   string `json:"msg"`
			Limit int64  `json:"go_memory_limit_bytes"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && strings.HasPrefix(ev.Msg, "memory limit") {
			return ev.Limit
		}
	}
	return 0
}

func emptyPipeline(t *testing.T) string {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "p.yaml")
	os.WriteFile(cfg, []byte(`
sources: {in: {type: file, path: /dev/null}}
stages: {parse: {type: parse_flowlog, inputs: [in]}}
sinks: {out: {type: file, inputs: [parse], path: "`+filepath.Join(dir, "out.json")+`", encoding: json}}
`), 0o644)
	return cfg
}

// GOMEMLIMIT wins and is reported.
func TestMemoryLimitFromGOMEMLIMIT(t *testing.T) {
	cmd := exec.Command(binary, "run", "--config", emptyPipeline(t))
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=123MiB")
	if got := memoryLimitLogged(t, cmd); got != 123<<20 {
		t.Fatalf("memory limit %d, want %d", got, 123<<20)
	}
}

// In a memory cgroup limited to 600 MiB the Go runtime's limit is 90 % of
// it, or the share AUTOMEMLIMIT names. The test makes a cgroup v1 memory
// group, which needs root and a writable hierarchy.
func TestMemoryLimitFromCgroup(t *testing.T) {
	const root = "/sys/fs/cgroup/memory"
	group := filepath.Join(root, fmt.Sprintf("vpcflow-test-%d", os.Getpid()))
	if err := os.Mkdir(group, 0o755); err != nil {
		t.Skipf("no writable cgroup v1 memory hierarchy here: %v", err)
	}
	t.Cleanup(func() { os.Remove(group) })
	if err := os.WriteFile(filepath.Join(group, "memory.limit_in_bytes"), []byte(fmt.Sprint(600<<20)), 0o644); err != nil {
		t.Skipf("cannot set a memory limit: %v", err)
	}
	cfg := emptyPipeline(t)
	run := func(env ...string) int64 {
		cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" run --config "$3"`, "sh", group, binary, cfg)
		cmd.Env = append(os.Environ(), env...)
		return memoryLimitLogged(t, cmd)
	}
	if got, want := run(), int64(0.9*float64(600<<20)); got != want {
		t.Errorf("memory limit %d, want %d (90 %% of 600 MiB)", got, want)
	}
	if got, want := run("AUTOMEMLIMIT="), int64(0.9*float64(600<<20)); got != want {
		t.Errorf("with AUTOMEMLIMIT empty: memory limit %d, want %d", got, want)
	}
	if got, want := run("AUTOMEMLIMIT=0.5"), int64(300<<20); got != want {
		t.Errorf("with AUTOMEMLIMIT=0.5: memory limit %d, want %d", got, want)
	}
	if got := run("AUTOMEMLIMIT=off"); got != 0 {
		t.Errorf("with AUTOMEMLIMIT=off: memory limit %d, want none", got)
	}
}
