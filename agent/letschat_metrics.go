package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/replset-agent/replset-agent/childproc"
	"github.com/replset-agent/replset-agent/lcconfig"
)

// letschatMetrics are the letschat role's restart-coordination series, beside the shared ones.
type letschatMetrics struct {
	gateDeferrals prometheus.Counter
	downtime      prometheus.Histogram
	handovers     *prometheus.CounterVec
}

func newLetschatMetrics(reg *prometheus.Registry, status func() lcconfig.Status) *letschatMetrics {
	c := prometheus.Labels{"role": "letschat"}
	boolGauge := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	m := &letschatMetrics{
		gateDeferrals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "replset_agent_letschat_gate_deferrals_total", Help: "Policy restarts put off because the restart gate was not available (another instance restarting, or no primary).", ConstLabels: c,
		}),
		downtime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "replset_agent_letschat_restart_downtime_seconds", Help: "Time from the SIGTERM of a policy restart to the replacement answering its readiness probe.", ConstLabels: c,
			Buckets: []float64{.5, 1, 2.5, 5, 10, 20, 30, 60, 120},
		}),
		handovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "replset_agent_letschat_handovers_total", Help: "Active–standby handovers, by outcome: handed-over (this instance gave its place), took-over (it took another's), called-off.", ConstLabels: c,
		}, []string{"outcome"}),
	}
	for _, o := range []string{"handed-over", "took-over", "called-off"} {
		m.handovers.WithLabelValues(o)
	}
	reg.MustRegister(m.gateDeferrals, m.downtime, m.handovers,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "replset_agent_letschat_serving", Help: "1 while this instance takes traffic (/readyz passes): ready and, in active-standby, the one chosen to serve.", ConstLabels: c,
		}, func() float64 { return boolGauge(status().Serving) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "replset_agent_letschat_ready", Help: "1 while Let's Chat answers its readiness probe.", ConstLabels: c,
		}, func() float64 { return boolGauge(status().Ready) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "replset_agent_letschat_gate_held", Help: "1 while this instance holds the restart gate for a restart in progress.", ConstLabels: c,
		}, func() float64 { return boolGauge(status().GateHeld) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "replset_agent_letschat_dropped_members", Help: "Members of the last update left out of Let's Chat's URI (IPv6 literals, ...).", ConstLabels: c,
		}, func() float64 { return float64(len(status().Dropped)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "replset_agent_reaped_orphans_total", Help: "Orphaned descendants of the child reaped by the agent (as PID 1 or subreaper).", ConstLabels: c,
		}, func() float64 { return float64(childproc.Reaped()) }),
	)
	return m
}

func (m *letschatMetrics) observe(e lcconfig.Event) {
	switch e.Kind {
	case lcconfig.EventGateDeferred:
		m.gateDeferrals.Inc()
	case lcconfig.EventRestartDone:
		m.downtime.Observe(e.Downtime.Seconds())
	case lcconfig.EventHandover:
		outcome := "handed-over"
		if e.Took {
			outcome = "took-over"
		}
		m.handovers.WithLabelValues(outcome).Inc()
	case lcconfig.EventHandoverOff:
		m.handovers.WithLabelValues("called-off").Inc()
	}
}
