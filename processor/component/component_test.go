package component

import "testing"

type cfgA struct{ N int }
type cfgB struct{}

func TestConfigAs(t *testing.T) {
	a := &cfgA{N: 3}
	if got, err := ConfigAs[cfgA]("a", a); err != nil || got != a {
		t.Fatalf("ConfigAs(own config) = %v, %v", got, err)
	}
	_, err := ConfigAs[cfgA]("kafkasource", &cfgB{})
	if err == nil || err.Error() != "kafkasource: config is *component.cfgB, want *component.cfgA" {
		t.Fatalf("another factory's config: %v", err)
	}
}
