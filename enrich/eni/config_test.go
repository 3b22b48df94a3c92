package eni

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/component/componenttest"
)

// decode decodes a component's YAML as the engine does: KnownFields over
// NewDefaultConfig, then Validate.
func decode(t *testing.T, path string) (*Config, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().NewDefaultConfig().(*Config)
	return cfg, componenttest.Decode(b, cfg)
}

func TestGoodConfigs(t *testing.T) {
	cfg, err := decode(t, "testdata/config/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CacheSize != 50000 || cfg.TTL != 10*time.Minute || cfg.NegativeTTL != time.Minute ||
		cfg.RoleARN != "arn:aws:iam::{account-id}:role/vpcflow-reader" || cfg.MaxWait != 500*time.Millisecond ||
		cfg.BatchWindow != 20*time.Millisecond || cfg.MaxIDsPerCall != 100 || cfg.RateLimit != 2.5 ||
		len(cfg.Tags) != 2 || len(cfg.WarmUp.Accounts) != 2 || cfg.WarmUp.Regions[0] != "eu-west-1" {
		t.Fatalf("decoded %+v", cfg)
	}
	cfg, err = decode(t, "testdata/config/empty.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CacheSize != 100000 || cfg.TTL != 15*time.Minute || cfg.NegativeTTL != 5*time.Minute || cfg.MaxWait != 2*time.Second {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct{ file, errContains string }{
		{"unknown_key.bad.yaml", "cache_sise"},
		{"sizes.bad.yaml", "cache_size must be positive"},
		{"sizes.bad.yaml", "max_ids_per_call must be between 1 and 200"},
		{"sizes.bad.yaml", "negative_ttl must be positive"},
		{"sizes.bad.yaml", "rate_limit must be positive"},
		{"role.bad.yaml", "role_arn"},
		{"role.bad.yaml", "warm_up.accounts[0]"},
	} {
		t.Run(tc.file+"/"+tc.errContains, func(t *testing.T) {
			_, err := decode(t, filepath.Join("testdata/config", tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.errContains) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.errContains)
			}
		})
	}
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "eni_enrich" {
		t.Fatalf("type %q", f.Type)
	}
	cfg := f.NewDefaultConfig().(*Config)
	cfg.Region = "us-east-1"
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	st, err := f.Create(context.Background(), cfg, component.Settings{ID: "eni"})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Stage)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Create(context.Background(), struct{}{}, component.Settings{}); err == nil {
		t.Fatal("wrong config type accepted")
	}
	bad := f.NewDefaultConfig().(*Config)
	bad.CacheSize = 0
	if _, err := f.Create(context.Background(), bad, component.Settings{}); err == nil {
		t.Fatal("invalid config accepted")
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, id := range []string{"eni-0123456789abcdef0", "eni-8f8f8f8f", "eni-f0000000000000001", "eni-1"} {
		lo, hi, ok := parseID([]byte(id))
		if !ok {
			t.Fatalf("%s not parsed", id)
		}
		if got := mkKey(0, lo, hi, 0).interfaceID(); got != id {
			t.Errorf("%s → %s", id, got)
		}
	}
	for _, id := range []string{"", "-", "eni-", "eni-0123456789abcdef01", "eni-xyz", "vpc-12345678"} {
		if _, _, ok := parseID([]byte(id)); ok {
			t.Errorf("%q parsed", id)
		}
	}
	if k := mkKey(parseAccount([]byte("999999999999")), 1, 1, 255); k.account() != 999999999999 || k.region() != 255 || k.idHi() != 1 {
		t.Errorf("key packing: %+v", k)
	}
	if a := parseAccount([]byte("012345678901")); accountString(a) != "012345678901" {
		t.Errorf("account round trip: %s", accountString(a))
	}
	for _, a := range []string{"unknown", "12345", "1234567890123"} {
		if parseAccount([]byte(a)) != 0 {
			t.Errorf("%q parsed as an account", a)
		}
	}
}

// parseIDSlow is the digit-by-digit reference for parseID.
func parseIDSlow(b []byte) (uint64, uint32, bool) {
	if len(b) < 5 || len(b) > 4+maxIDDigits || string(b[:4]) != "eni-" {
		return 0, 0, false
	}
	d := b[4:]
	var lo uint64
	var top uint32
	for i, c := range d {
		v := unhex[c]
		if v > 15 {
			return 0, 0, false
		}
		if i == 0 && len(d) == maxIDDigits {
			top = uint32(v)
			continue
		}
		lo = lo<<4 | uint64(v)
	}
	return lo, uint32(len(d)) | top<<8, true
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"eni-0123456789abcdef0", "eni-8F8F8F8F", "eni-1", "eni-0123456789abcdeg0", "eni-0123456789abcdef/", "eni-:a", "eni-\x80\x80\x80\x80\x80\x80\x80\x80", "eni-GGGGGGGG", "eni-``````````````````"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lo, hi, ok := parseID(b)
		wlo, whi, wok := parseIDSlow(b)
		if lo != wlo || hi != whi || ok != wok {
			t.Fatalf("parseID(%q) = %x %x %v, want %x %x %v", b, lo, hi, ok, wlo, whi, wok)
		}
	})
}

// TestParseIDEveryByte puts every byte value at every digit position of
// both fast-path lengths and compares with the reference.
func TestParseIDEveryByte(t *testing.T) {
	for _, base := range []string{"eni-0123456789abcdef0", "eni-89ABCDEF"} {
		for pos := 4; pos < len(base); pos++ {
			for c := range 256 {
				b := []byte(base)
				b[pos] = byte(c)
				lo, hi, ok := parseID(b)
				wlo, whi, wok := parseIDSlow(b)
				if lo != wlo || hi != whi || ok != wok {
					t.Fatalf("parseID(%q) = %x %x %v, want %x %x %v", b, lo, hi, ok, wlo, whi, wok)
				}
			}
		}
	}
}
