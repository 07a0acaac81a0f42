package relay

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a Connection Server's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	live        prometheus.Gauge
	handshakes  prometheus.Gauge
	sessions    prometheus.Counter
	bytes       prometheus.Counter
	refusals    *prometheus.CounterVec
	probes      prometheus.Counter
	parked      prometheus.Gauge
	pairLatency prometheus.Histogram
}

// NewMetrics creates the relay's metrics and registers them with reg:
// portcullis_relay_sessions_live, portcullis_relay_handshakes_in_progress,
// portcullis_relay_sessions_total, portcullis_relay_bytes_total,
// portcullis_relay_refusals_total{reason}, portcullis_relay_probes_total (latency probes: TCP
// connections closed before their first byte, which are not refusals),
// portcullis_relay_directions_parked and portcullis_relay_pairing_seconds.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		live: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portcullis_relay_sessions_live", Help: "Spliced sessions now.",
		}),
		handshakes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portcullis_relay_handshakes_in_progress", Help: "Connections not yet authenticated.",
		}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_relay_sessions_total", Help: "Sessions paired since start.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_relay_bytes_total", Help: "Session bytes relayed, both directions.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_relay_refusals_total", Help: "Halves refused or dropped, by reason code.",
		}, []string{"reason"}),
		probes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_relay_probes_total", Help: "Latency probes: connections closed before their first byte.",
		}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portcullis_relay_directions_parked", Help: "Idle splice directions parked without a goroutine (two per idle session).",
		}),
		pairLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "portcullis_relay_pairing_seconds", Help: "Time the first half of a session waited for the second.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.live, m.handshakes, m.sessions, m.bytes, m.refusals, m.probes, m.parked, m.pairLatency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) refused(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) probed() {
	if m != nil {
		m.probes.Inc()
	}
}

func (m *Metrics) handshaking(n int) {
	if m != nil {
		m.handshakes.Set(float64(n))
	}
}

func (m *Metrics) paired(live int, waited time.Duration) {
	if m != nil {
		m.live.Set(float64(live))
		m.sessions.Inc()
		m.pairLatency.Observe(waited.Seconds())
	}
}

func (m *Metrics) ended(live int) {
	if m != nil {
		m.live.Set(float64(live))
	}
}

func (m *Metrics) relayed(n int) {
	if m != nil && n > 0 {
		m.bytes.Add(float64(n))
	}
}

// parking counts a splice direction parked (+1) or woken (-1).
func (m *Metrics) parking(delta float64) {
	if m != nil {
		m.parked.Add(delta)
	}
}
