package host

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/internal/atomicfile"
)

// renewAt is when a certificate should be renewed: after two thirds of its lifetime (counted
// from its issue, not from its backdated NotBefore).
func renewAt(leaf *x509.Certificate) time.Time {
	issued := leaf.NotBefore.Add(certs.BackdateCertificates)
	return issued.Add(leaf.NotAfter.Sub(issued) * 2 / 3)
}

// renewals renews the Host's client certificate at two thirds of its lifetime and stores the
// new one. A failed renewal is retried with backoff (the certificate may expire meanwhile;
// the CM then refuses the Host) until it succeeds, ctx ends or the CM refuses the Host.
func (h *Agent) renewals(ctx context.Context, rt *hostRuntime) {
	log := h.logger()
	for {
		if !sleep(ctx, max(time.Until(renewAt(rt.leaf.Load())), 0)) {
			return
		}
		_, err := backoff.Retry(ctx, func() (struct{}, error) {
			client := rt.cm()
			err := h.renew(ctx, rt)
			if err != nil && ctx.Err() == nil && rt.refused(client, err) {
				return struct{}{}, backoff.Permanent(err)
			}
			return struct{}{}, err
		}, backoff.WithBackOff(newBackOff()), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, pause time.Duration) {
			log.Warn("renew host certificate", "err", err, "expires", rt.leaf.Load().NotAfter, "retry_in", pause)
		}))
		if err != nil {
			return // ctx ended, or the CM refuses the Host
		}
		log.Info("host certificate renewed", "expires", rt.leaf.Load().NotAfter)
	}
}

// renew asks the CM for a new certificate, stores it, then uses it.
func (h *Agent) renew(ctx context.Context, rt *hostRuntime) error {
	var resp api.HostRenewResponse
	if err := api.Call(ctx, rt.cm(), http.MethodPost, h.CMURL+api.PathHostRenew, "", struct{}{}, &resp); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(h.StateDir, hostCertFile), []byte(resp.Certificate), 0o600); err != nil {
		return err
	}
	if err := h.useCertificate(rt, []byte(resp.Certificate)); err != nil {
		return err
	}
	rt.renewed.Store(time.Now().UnixNano())
	return nil
}

// heartbeatEvery is the time between heartbeats at the CM's interval: pollingHeartbeats
// intervals while the CM answers the Host's long-polls (which it counts as signs of life),
// one otherwise.
func heartbeatEvery(interval time.Duration, polling bool) time.Duration {
	if polling {
		return pollingHeartbeats * interval
	}
	return interval
}

// heartbeats tells the CM the Host is alive, with its latency to the relays the CM names,
// re-measured every probe interval and at once when the CM names other relays. While the CM
// answers the Host's long-polls, it heartbeats pollingHeartbeats times less often; it looks
// every interval whether its long-polls still succeed.
func (h *Agent) heartbeats(ctx context.Context, rt *hostRuntime) {
	interval := defaultHeartbeat
	var targets []api.RelayAddr
	var hb api.Heartbeat
	var probed time.Time
	for {
		if len(targets) > 0 && time.Since(probed) >= h.probeInterval() {
			hb.RelayLatencies, probed = rt.dialer.Probe(ctx, targets), time.Now()
		}
		client := rt.cm()
		resp, err := h.heartbeat(ctx, rt, hb)
		switch {
		case err != nil && rt.refused(client, err):
			return
		case err != nil && ctx.Err() == nil:
			h.logger().Warn("heartbeat", "err", err)
		case err == nil && resp.IntervalSeconds > 0:
			interval = time.Duration(resp.IntervalSeconds) * time.Second
		}
		if err == nil && !slices.Equal(targets, resp.Relays) {
			targets, probed = resp.Relays, time.Time{}
			if len(targets) > 0 {
				continue // measure the new relays and report them now
			}
		}
		for sent := time.Now(); ; {
			if !sleep(ctx, jitter(interval)) {
				return
			}
			if time.Since(sent) >= heartbeatEvery(interval, rt.polling.Load())-interval/2 {
				break
			}
		}
	}
}

// heartbeat sends one heartbeat: signed over plain HTTP to HeartbeatURL when set (without
// relay latencies), otherwise body over mTLS to the CM.
func (h *Agent) heartbeat(ctx context.Context, rt *hostRuntime, body api.Heartbeat) (api.HeartbeatResponse, error) {
	var resp api.HeartbeatResponse
	if h.HeartbeatURL == "" {
		err := api.Call(ctx, rt.cm(), http.MethodPost, h.CMURL+api.PathHeartbeat, "", body, &resp)
		return resp, err
	}
	hb := api.SignedHeartbeat{HostID: rt.state.HostID, Time: time.Now(), Counter: rt.counter.Add(1)}
	hb.Signature = ed25519.Sign(rt.key, hb.SigningBytes())
	err := api.Call(ctx, http.DefaultClient, http.MethodPost, strings.TrimSuffix(h.HeartbeatURL, "/")+api.PathSignedHeartbeat, "", hb, &resp)
	return resp, err
}
