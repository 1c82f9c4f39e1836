package scheduler

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the scheduler's Prometheus series; with no registerer they
// are kept but not exported.
type metrics struct {
	runs        *prometheus.CounterVec
	tasks       *prometheus.CounterVec
	taskSeconds *prometheus.HistogramVec
	runSeconds  *prometheus.HistogramVec
	leader      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	buckets := []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cartwheel_dag_runs_total", Help: "DAG runs finished, by DAG and final state (success, failed).",
		}, []string{"dag", "state"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cartwheel_task_instances_total",
			Help: "Task tries finished, by DAG, task and state (success, failed, up_for_retry, upstream_failed, skipped).",
		}, []string{"dag", "task", "state"}),
		taskSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cartwheel_task_duration_seconds", Help: "Duration of task tries.", Buckets: buckets,
		}, []string{"dag", "task"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cartwheel_dag_run_duration_seconds", Help: "Duration of finished DAG runs.", Buckets: buckets,
		}, []string{"dag"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cartwheel_scheduler_leader", Help: "1 while this instance holds the scheduler lease.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.runs, m.tasks, m.taskSeconds, m.runSeconds, m.leader} {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) taskFinished(dagName, task, state string, seconds float64) {
	m.tasks.WithLabelValues(dagName, task, state).Inc()
	if state != StateUpstreamFailed && state != StateSkipped {
		m.taskSeconds.WithLabelValues(dagName, task).Observe(seconds)
	}
}

func (m *metrics) runFinished(dagName, state string, seconds float64) {
	m.runs.WithLabelValues(dagName, state).Inc()
	m.runSeconds.WithLabelValues(dagName).Observe(seconds)
}
