package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// handleHeartbeat takes a Host's heartbeat over mTLS: a sign of life with its latencies to
// relays. It is the CM's most frequent request, so it costs no store access while the Host's
// identity is cached (presence is flushed in batches, the relay list is cached), a body equal
// to the Host's last one is not decoded again, and its answer, the interval and the relays to
// measure, is encoded once per tenant and relay list. The TLS client certificate is the
// Host's identity: the body names no Host and needs no signature of its own.
func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	h, ok := s.admitAndAuthenticateHost(w, r)
	if !ok {
		return
	}
	buf, _ := s.heartbeatBodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer s.heartbeatBodies.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBodyBytes)); err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: "unreadable request: " + err.Error()})
		return
	}
	now := s.cfg.Now()
	if !s.presence.seenAgain(h.ID, now, buf.Bytes()) {
		var hb api.Heartbeat
		if err := decodeHeartbeat(buf.Bytes(), &hb); err != nil {
			writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
			return
		}
		s.presence.reported(h.ID, now, buf.Bytes(), hb.RelayLatencies)
	}
	writeJSONBytes(w, http.StatusOK, s.heartbeatReply(r.Context(), h.Tenant, now))
}

// decodeHeartbeat decodes a heartbeat's body into hb, refusing unknown fields, as readJSON does.
func decodeHeartbeat(body []byte, hb *api.Heartbeat) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(hb); err != nil {
		return badRequest("malformed request: %v", err)
	}
	return nil
}

// heartbeatReply is the encoded answer to a heartbeat of a Host of tenant. When the relays
// cannot be listed, the answer names none, and is not kept.
func (s *Server) heartbeatReply(ctx context.Context, tenant string, now time.Time) []byte {
	b, err := s.relays.reply(ctx, s.cfg.Store, now, tenant, func(all []store.Relay) ([]byte, error) {
		return s.encodeHeartbeatReply(tenantRelays(s.healthyRelays(all, now), tenant))
	})
	if err == nil {
		return b
	}
	s.cfg.Logger.Warn("list relays for a heartbeat", "err", err)
	if b, err = s.encodeHeartbeatReply(nil); err != nil {
		s.cfg.Logger.Error("encode a heartbeat answer", "err", err)
	}
	return b
}

// encodeHeartbeatReply encodes a heartbeat's answer naming the relays to measure.
func (s *Server) encodeHeartbeatReply(targets []api.RelayAddr) ([]byte, error) {
	b, err := json.Marshal(api.HeartbeatResponse{IntervalSeconds: int64(s.cfg.HeartbeatInterval / time.Second), Relays: targets})
	return append(b, '\n'), err
}

// reply returns the answer to a heartbeat of a Host of tenant that build makes from the relay
// list, kept with the list: the relays are read from the store at most once per
// relayCacheTTL, and the answer built once for each tenant in that time.
func (rr *relayRegistry) reply(ctx context.Context, st *store.DB, now time.Time, tenant string, build func([]store.Relay) ([]byte, error)) ([]byte, error) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	relays, err := rr.listLocked(ctx, st, now)
	if err != nil {
		return nil, err
	}
	if b, ok := rr.replies[tenant]; ok {
		return b, nil
	}
	b, err := build(relays)
	if err != nil {
		return nil, err
	}
	if rr.replies == nil {
		rr.replies = map[string][]byte{}
	}
	rr.replies[tenant] = b
	return b, nil
}

// Reasons a signed heartbeat is refused before the store is asked.
var (
	errHeartbeatStale     = errors.New("heartbeat time is too far from the CM's clock")
	errHeartbeatSignature = errors.New("heartbeat signature does not verify with the host's key")
	errHeartbeatMalformed = errors.New("malformed signed heartbeat")
)

// parseSignedHeartbeat decodes a signed heartbeat, refusing unknown fields, trailing data and
// missing parts.
func parseSignedHeartbeat(body []byte) (api.SignedHeartbeat, error) {
	var hb api.SignedHeartbeat
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hb); err != nil {
		return api.SignedHeartbeat{}, fmt.Errorf("%w: %w", errHeartbeatMalformed, err)
	}
	if dec.More() {
		return api.SignedHeartbeat{}, fmt.Errorf("%w: data after the JSON object", errHeartbeatMalformed)
	}
	switch {
	case hb.HostID == "":
		return api.SignedHeartbeat{}, fmt.Errorf("%w: host_id is empty", errHeartbeatMalformed)
	case hb.Time.IsZero():
		return api.SignedHeartbeat{}, fmt.Errorf("%w: time is missing", errHeartbeatMalformed)
	case hb.Counter <= 0:
		return api.SignedHeartbeat{}, fmt.Errorf("%w: counter must be positive", errHeartbeatMalformed)
	case len(hb.Signature) != ed25519.SignatureSize:
		return api.SignedHeartbeat{}, fmt.Errorf("%w: signature must be %d bytes", errHeartbeatMalformed, ed25519.SignatureSize)
	}
	return hb, nil
}

// verifySignedHeartbeat checks hb's time against now within skew and its signature by pub.
func verifySignedHeartbeat(hb api.SignedHeartbeat, pub ed25519.PublicKey, now time.Time, skew time.Duration) error {
	if d := hb.Time.Sub(now); d > skew || d < -skew {
		return fmt.Errorf("%w: %s off (allowed %s)", errHeartbeatStale, d.Round(time.Millisecond), skew)
	}
	if !ed25519.Verify(pub, hb.SigningBytes(), hb.Signature) {
		return errHeartbeatSignature
	}
	return nil
}

// handleSignedHeartbeat takes a heartbeat signed with the Host's key: the transport may be
// plain HTTP, so nothing in it is secret and nothing but the signature, the time window and
// the strictly increasing counter vouches for it.
func (s *Server) handleSignedHeartbeat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: "unreadable request: " + err.Error()})
		return
	}
	hb, err := parseSignedHeartbeat(body)
	if err != nil {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: err.Error()})
		return
	}
	h, ok := s.loadHost(r.Context(), w, hb.HostID)
	if !ok {
		return
	}
	pub, ok := s.hostKey(w, h)
	if !ok {
		return
	}
	now := s.cfg.Now()
	if err := verifySignedHeartbeat(hb, pub, now, s.cfg.HeartbeatSkew); err != nil {
		s.cfg.Logger.Warn("refused signed heartbeat", "host_id", h.ID, "err", err, "remote", r.RemoteAddr)
		reason := access.ErrBadSignature
		if errors.Is(err, errHeartbeatStale) {
			reason = access.ErrStale
		}
		refuseAuth(w, reason, err.Error())
		return
	}
	switch err := s.cfg.Store.AdvanceHeartbeatCounter(r.Context(), h.ID, hb.Counter); {
	case errors.Is(err, store.ErrReplayed):
		s.cfg.Logger.Warn("refused replayed signed heartbeat", "host_id", h.ID, "counter", hb.Counter, "remote", r.RemoteAddr)
		refuseAuth(w, access.ErrReplayed, "heartbeat counter is not above the last one accepted")
		return
	case err != nil:
		s.hostStoreError(w, "advance heartbeat counter", err)
		return
	}
	s.presence.seen(h.ID, now)
	writeJSON(w, http.StatusOK, api.HeartbeatResponse{IntervalSeconds: int64(s.cfg.HeartbeatInterval / time.Second)})
}

// PlainHeartbeatHandler serves only signed heartbeats, for a plain-HTTP listener that Hosts
// configured for it use; everything else is 404 there.
func (s *Server) PlainHeartbeatHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathSignedHeartbeat, s.handleSignedHeartbeat)
	return mux
}
