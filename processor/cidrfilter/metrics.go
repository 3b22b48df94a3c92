package cidrfilter

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	dropped [numRules]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, stage string) (*metrics, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_cidr_filter_dropped_total",
		Help: "Records the CIDR filter dropped, by the rule that dropped them: drop_when_both_in, drop_when_either_in, keep_when_either_in, prefix_strings.",
	}, []string{"stage", "rule"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return nil, err
		}
		c = existing
	}
	m := &metrics{}
	for i := range m.dropped {
		m.dropped[i] = c.WithLabelValues(stage, ruleNames[i])
	}
	return m, nil
}
