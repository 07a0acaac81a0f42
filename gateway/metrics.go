package gateway

import (
	"cmp"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portcullis/portcullis/gateway/logship"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
)

// policyCollector reports a policy Source's rollout state at every scrape:
// portcullis_policy_reloads_total, portcullis_policy_reload_failures_total,
// portcullis_policy_last_reload_failed, portcullis_policy_info{revision,origin},
// portcullis_policy_loaded_timestamp_seconds, portcullis_policy_untested and
// portcullis_policy_untested_allowed.
type policyCollector struct {
	source                                    policy.Source
	reloads, failures, lastFailed, info, load *prometheus.Desc

	untested, untestedAllowed *prometheus.Desc
}

// newPolicyCollector describes the policy metrics of source.
func newPolicyCollector(source policy.Source) *policyCollector {
	return &policyCollector{
		source:     source,
		reloads:    prometheus.NewDesc("portcullis_policy_reloads_total", "Policies rolled out after the first.", nil, nil),
		failures:   prometheus.NewDesc("portcullis_policy_reload_failures_total", "Candidate policies refused (parse, compile, signature or tests).", nil, nil),
		lastFailed: prometheus.NewDesc("portcullis_policy_last_reload_failed", "1 while the newest candidate policy is refused and an older one serves.", nil, nil),
		info:       prometheus.NewDesc("portcullis_policy_info", "The serving policy.", []string{"revision", "origin"}, nil),
		load:       prometheus.NewDesc("portcullis_policy_loaded_timestamp_seconds", "When the serving policy was loaded.", nil, nil),

		untested:        prometheus.NewDesc("portcullis_policy_untested", "1 while the serving policy has no tests (served only because untested policies are allowed).", nil, nil),
		untestedAllowed: prometheus.NewDesc("portcullis_policy_untested_allowed", "1 when the CM accepts policies without tests (--allow-untested-policy).", nil, nil),
	}
}

// Describe sends the descriptions of the policy metrics.
func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reloads, c.failures, c.lastFailed, c.info, c.load, c.untested, c.untestedAllowed} {
		ch <- d
	}
}

// Collect reads the source's status once and sends its metrics.
func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.source.Status()
	failed := 0.0
	if st.LastError != "" {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.Reloads))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(c.lastFailed, prometheus.GaugeValue, failed)
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, st.Revision, st.Origin)
	ch <- prometheus.MustNewConstMetric(c.load, prometheus.GaugeValue, float64(st.LoadedAt.Unix()))
	ch <- prometheus.MustNewConstMetric(c.untested, prometheus.GaugeValue, boolMetric(st.Untested))
	ch <- prometheus.MustNewConstMetric(c.untestedAllowed, prometheus.GaugeValue, boolMetric(st.AllowUntested))
}

// leaseCollector reports portcullis_cm_lease_held{lease}: 1 while this replica holds the
// lease and does the singleton work.
type leaseCollector struct {
	lease *singletonLease
	held  *prometheus.Desc
}

// newLeaseCollector describes the lease metrics of l.
func newLeaseCollector(l *singletonLease) *leaseCollector {
	return &leaseCollector{lease: l, held: prometheus.NewDesc("portcullis_cm_lease_held",
		"1 while this CM replica holds the lease and does its singleton work (lost-relay sweeps, re-evaluation).", []string{"lease"}, nil)}
}

// Describe sends the description of the lease metric.
func (c *leaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.held }

// Collect sends whether this replica holds the lease.
func (c *leaseCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, boolMetric(c.lease.held()), store.LeaseSingleton)
}

// boolMetric is 1 for true and 0 for false.
func boolMetric(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// shipMetrics are portcullis_decision_log_shipped_total and
// portcullis_decision_log_ship_failures_total of shipper; none without one.
func shipMetrics(shipper *logship.Shipper) []prometheus.Collector {
	if shipper == nil {
		return nil
	}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "portcullis_decision_log_shipped_total",
			Help: "Decision records this CM replica shipped and a collector acknowledged (a record sent again counts again).",
		}, func() float64 { return float64(shipper.Stats().Shipped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "portcullis_decision_log_ship_failures_total",
			Help: "Attempts to ship decision records that failed (store or collector) and were retried.",
		}, func() float64 { return float64(shipper.Stats().Failures) }),
	}
}

// newRequestDurations is portcullis_cm_request_duration_seconds{route,method,code}: how long the
// CM took to answer each request, by the route that served it. Its buckets are fine around the
// milliseconds a connect takes and coarse up to a long-poll's half minute.
func newRequestDurations() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "portcullis_cm_request_duration_seconds",
		Help:    "Time from a request's headers to its answer on this CM replica, by route (the API pattern; long-polls wait by design), method and status code.",
		Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30},
	}, []string{"route", "method", "code"})
}

// instrumentRequests observes every request h serves in durations, labelled with the pattern
// of the route that served it ("unmatched" when none did).
func instrumentRequests(durations *prometheus.HistogramVec, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(durations, h, promhttp.WithLabelFromRequest("route", routeOf))
}

// routeOf is the pattern that the ServeMux matched for r, which it records on r.
func routeOf(r *http.Request) string { return cmp.Or(r.Pattern, "unmatched") }

// metricsHandler serves the CM's metrics (the policy's, the lease's, the long-polls', the
// decision-log shipper's, the Go runtime's, the process's and more: the requests', the connect
// steps' and the store's) from a registry of its own.
func metricsHandler(source policy.Source, lease *singletonLease, mail *mailWaiters, shipper *logship.Shipper, more ...prometheus.Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range append(append(shipMetrics(shipper), more...),
		newPolicyCollector(source),
		newLeaseCollector(lease),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "portcullis_cm_long_polls",
			Help: "Long-polls of Hosts and Connection Servers waiting for mail on this CM replica.",
		}, func() float64 { return float64(mail.waiting.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "portcullis_cm_mail_looks_skipped_total",
			Help: "Long-polls that began to wait without reading the store, their mailbox known to be empty since the last collection (PostgreSQL).",
		}, func() float64 { return float64(mail.skipped.Load()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}
