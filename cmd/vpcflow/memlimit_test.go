package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
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

// cgroupV2 reads the memory limit that applies to the group at path of a
// cgroup v2 hierarchy mounted at root, as the kernel applies it: the
// smallest memory.max of the group and its ancestors up to root, where
// "max" or no file means no limit at that level (memlimit.ErrNoLimit when
// there is none at all).
func cgroupV2(root, path string) memlimit.Provider {
	return func() (uint64, error) {
		limit, found := uint64(math.MaxUint64), false
		for dir := filepath.Join(root, path); ; dir = filepath.Dir(dir) {
			b, err := os.ReadFile(filepath.Join(dir, "memory.max"))
			switch v := strings.TrimSpace(string(b)); {
			case errors.Is(err, fs.ErrNotExist), err == nil && v == "max":
			case err != nil:
				return 0, err
			default:
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s/memory.max: %w", dir, err)
				}
				limit, found = min(limit, n), true
			}
			if dir == root || len(dir) < len(root) {
				break
			}
		}
		if !found {
			return 0, memlimit.ErrNoLimit
		}
		return limit, nil
	}
}

// fakeCgroupV2 makes a cgroup v2 tree in a temporary directory, as a
// container sees it under /sys/fs/cgroup, with memory.max of the root,
// the pod and the container set as given ("" leaves the file out), and
// returns its root and the container's group.
func fakeCgroupV2(t *testing.T, rootMax, podMax, ctrMax string) (root, group string) {
	t.Helper()
	root = t.TempDir()
	group = "kubepods/pod1/ctr"
	files := map[string]string{
		"cgroup.controllers":             "cpu io memory pids",
		"memory.max":                     rootMax,
		"kubepods/pod1/memory.max":       podMax,
		"kubepods/pod1/ctr/memory.max":   ctrMax,
		"kubepods/pod1/ctr/cgroup.procs": "1",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "" {
			continue
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, group
}

// Under cgroup v2 (a memory.max per group, the tightest of the group's
// and its ancestors' applying) the Go runtime's limit is 90 % of the
// container's, or the share AUTOMEMLIMIT names, and what is logged is what
// is set. Runs in process, on a made-up cgroup tree.
func TestMemoryLimitFromCgroupV2(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                    string
		rootMax, podMax, ctrMax string
		env                     []string // NAME=value; NAME alone unsets
		want                    int64    // the limit logged and set; 0: none
		warn                    bool     // "no memory limit set" logged
	}{
		{name: "container", rootMax: "max", podMax: "1073741824", ctrMax: "629145600", want: 0.9 * 600 * mib},
		{name: "pod tighter", rootMax: "max", podMax: "629145600", ctrMax: "2147483648", want: 0.9 * 600 * mib},
		{name: "pod only", podMax: "629145600", want: 0.9 * 600 * mib},
		{name: "share", ctrMax: "629145600", env: []string{"AUTOMEMLIMIT=0.5"}, want: 300 * mib},
		{name: "empty share", ctrMax: "629145600", env: []string{"AUTOMEMLIMIT="}, want: 0.9 * 600 * mib},
		{name: "off", ctrMax: "629145600", env: []string{"AUTOMEMLIMIT=off"}},
		{name: "GOMEMLIMIT wins", ctrMax: "629145600", env: []string{"GOMEMLIMIT=123MiB"}},
		{name: "unlimited", rootMax: "max", podMax: "max", ctrMax: "max"},
		{name: "no files"},
		{name: "unreadable", ctrMax: "plenty", warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"GOMEMLIMIT", "AUTOMEMLIMIT", "AUTOMEMLIMIT_EXPERIMENT", "AUTOMEMLIMIT_DEBUG"} {
				t.Setenv(name, "") // restored after the test
				os.Unsetenv(name)
			}
			for _, kv := range tc.env {
				name, v, _ := strings.Cut(kv, "=")
				t.Setenv(name, v)
			}
			prev := debug.SetMemoryLimit(math.MaxInt64)
			t.Cleanup(func() { debug.SetMemoryLimit(prev) })

			root, group := fakeCgroupV2(t, tc.rootMax, tc.podMax, tc.ctrMax)
			var logs bytes.Buffer
			setMemoryLimitFrom(slog.New(slog.NewJSONHandler(&logs, nil)), cgroupV2(root, group))

			var logged int64
			warned := false
			for line := range strings.Lines(logs.String()) {
				var ev struct {
					Msg   string `json:"msg"`
					Limit int64  `json:"go_memory_limit_bytes"`
				}
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				switch {
				case strings.HasPrefix(ev.Msg, "memory limit"):
					logged = ev.Limit
				case strings.HasPrefix(ev.Msg, "no memory limit set"):
					warned = true
				}
			}
			if logged != tc.want {
				t.Errorf("logged memory limit %d, want %d\n%s", logged, tc.want, logs.String())
			}
			set := debug.SetMemoryLimit(-1)
			if tc.want == 0 && set != math.MaxInt64 || tc.want != 0 && set != tc.want {
				t.Errorf("runtime memory limit %d, want %d", set, tc.want)
			}
			if warned != tc.warn {
				t.Errorf("warning logged: %v, want %v\n%s", warned, tc.warn, logs.String())
			}
		})
	}
}

// The binary, with the library's own cgroup reader, under cgroup v2: a
// made-up memory.max is bind-mounted over the cgroup2 mount in a mount
// namespace of the child's own. Needs unshare(1) and the right to mount
// (root); TestMemoryLimitFromCgroupV2 covers the rest everywhere.
func TestMemoryLimitFromCgroupV2Mount(t *testing.T) {
	mountPoint := ""
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skipf("no mountinfo: %v", err)
	}
	for line := range strings.Lines(string(mi)) {
		if pre, post, ok := strings.Cut(line, " - "); ok && strings.HasPrefix(post, "cgroup2 ") {
			if f := strings.Fields(pre); len(f) >= 5 {
				mountPoint = f[4]
				break
			}
		}
	}
	if mountPoint == "" {
		t.Skip("no cgroup2 hierarchy mounted here")
	}
	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "memory.max"), []byte(fmt.Sprintln(600<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unshare", "-m", "--propagation", "private",
		"mount", "--bind", fake, mountPoint).CombinedOutput(); err != nil {
		t.Skipf("cannot bind-mount over %s in a mount namespace: %v: %s", mountPoint, err, out)
	}
	cfg := emptyPipeline(t)
	run := func(env ...string) int64 {
		cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
			`mount --bind "$1" "$2" && exec "$3" run --config "$4"`, "sh", fake, mountPoint, binary, cfg)
		cmd.Env = append(os.Environ(), env...)
		return memoryLimitLogged(t, cmd)
	}
	if got, want := run(), int64(0.9*float64(600<<20)); got != want {
		t.Errorf("memory limit %d, want %d (90 %% of 600 MiB)", got, want)
	}
	if got, want := run("AUTOMEMLIMIT=0.5"), int64(300<<20); got != want {
		t.Errorf("with AUTOMEMLIMIT=0.5: memory limit %d, want %d", got, want)
	}
}
