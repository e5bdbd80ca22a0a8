package agent

import (
	"github.com/prometheus/client_golang/prometheus"
)

// newForeignSetGauge registers the mongo role's foreign-set alarm on m's registry: how many mongods
// of the service hold another replica set (0 when the alarm is cleared).
func newForeignSetGauge(m *metrics) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "replset_agent_foreign_set",
		Help:        "Mongods of the service found in another replica set (another name or replicaSetId); never added, a human must act. 0 when none.",
		ConstLabels: prometheus.Labels{"role": "mongo"},
	})
	m.registry.MustRegister(g)
	return g
}
