package agent

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are one role's Prometheus series, on a registry of its own so that several agents can
// live in one process (the demo) without sharing counters.
type metrics struct {
	registry *prometheus.Registry

	metadataRequests  *prometheus.CounterVec
	metadataErrors    prometheus.Counter
	metadataChanges   prometheus.Counter
	snapshots         prometheus.Counter
	lastMetadataOK    prometheus.Gauge
	planActions       *prometheus.CounterVec
	mongoErrors       *prometheus.CounterVec
	members           *prometheus.GaugeVec
	convergence       prometheus.Histogram
	noPrimaryAlarm    prometheus.Gauge
	letschatRestarts  *prometheus.CounterVec
	letschatURIChange prometheus.Counter
	// changeSeen is when the watcher last saw a new metadata version (UnixNano), for the per-stage
	// timings of the reconciler's decisions.
	changeSeen atomic.Int64
}

func newMetrics(role string) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c := prometheus.Labels{"role": role}
	m := &metrics{
		registry: reg,
		metadataRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "replset_agent_metadata_requests_total", Help: "HTTP requests to the Rancher metadata service, by kind.", ConstLabels: c,
		}, []string{"kind"}),
		metadataErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "replset_agent_metadata_errors_total", Help: "Failed metadata long-polls and fetches (the last good snapshot was kept).", ConstLabels: c,
		}),
		metadataChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "replset_agent_metadata_changes_total", Help: "Metadata version changes seen.", ConstLabels: c,
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "replset_agent_snapshots_total", Help: "Consistent metadata snapshots handed to the role.", ConstLabels: c,
		}),
		lastMetadataOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "replset_agent_metadata_last_success_timestamp_seconds", Help: "When the metadata service last answered well.", ConstLabels: c,
		}),
		planActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "replset_agent_plan_actions_total", Help: "Executed planner actions, by kind, step and result (ok or error).", ConstLabels: c,
		}, []string{"kind", "step", "result"}),
		mongoErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "replset_agent_mongo_errors_total", Help: "Errors from mongod, by server error code (network for connection failures).", ConstLabels: c,
		}, []string{"code"}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "replset_agent_members", Help: "Replica-set members by state, as last observed.", ConstLabels: c,
		}, []string{"state"}),
		convergence: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "replset_agent_convergence_seconds", Help: "Time from a metadata change to the committed config that matches it.", ConstLabels: c,
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		noPrimaryAlarm: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "replset_agent_no_primary_alarm", Help: "1 while the set has had no primary for longer than the alarm threshold.", ConstLabels: c,
		}),
		letschatRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "replset_agent_letschat_restarts_total", Help: "Let's Chat restarts, by reason.", ConstLabels: c,
		}, []string{"reason"}),
		letschatURIChange: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "replset_agent_letschat_uri_changes_total", Help: "Database URI changes adopted for Let's Chat.", ConstLabels: c,
		}),
	}
	reg.MustRegister(m.metadataRequests, m.metadataErrors, m.metadataChanges, m.snapshots, m.lastMetadataOK,
		m.planActions, m.mongoErrors, m.members, m.convergence, m.noPrimaryAlarm, m.letschatRestarts, m.letschatURIChange)
	return m
}
