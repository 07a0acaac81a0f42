package gateway

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/store"
)

// Relay choice weights. A relay's score is the Guest's and the Host's latency to it plus a load
// penalty; the lowest score wins.
const (
	// unknownLatencyMS stands in for a latency an end did not measure (or could not: the probe
	// failed), in milliseconds.
	unknownLatencyMS = 250
	// fullLoadPenaltyMS is the penalty of a relay at its capacity, in milliseconds; a relay
	// pays it in proportion to its sessions over its capacity.
	fullLoadPenaltyMS = 200
	// perSessionPenaltyMS is the penalty per live session of a relay that reports no capacity.
	perSessionPenaltyMS = 1
	// bytesPenaltyMSPerMiBps is the penalty per MiB/s a relay carries, in milliseconds.
	bytesPenaltyMSPerMiBps = 5
)

// relayAsk is what the relay choice for one session depends on.
type relayAsk struct {
	obligations access.Obligations
	// tenant owns the Host; privateOnly says the tenant uses only its own relays.
	tenant      string
	privateOnly bool
	// guestLatency and hostLatency are the ends' measurements by relay id, in milliseconds.
	guestLatency, hostLatency map[string]int64
	// exclude names relays through which pairing failed just before (failover).
	exclude []string
}

// relayChoice is the chosen relay and why.
type relayChoice struct {
	relay store.Relay
	found bool
	// reason is the whole reason, every skipped relay included: for the decision record and
	// the CM's log, which auditors and operators read.
	reason string
	// shown is the reason the Guest is told: it names only relays the Guest may know of
	// (vendor relays and the Host's tenant's own), never another tenant's.
	shown string
}

// scoredRelay is a candidate with its score and its parts, in milliseconds.
type scoredRelay struct {
	rel               store.Relay
	guest, host, load int64
	score             int64
}

// chooseRelay picks the allowed, healthy, not full, not excluded candidate with the lowest
// latency plus load score, and says why in words: in full for the record, and in what the
// Guest may know for the Guest.
func chooseRelay(cands []store.Relay, ask relayAsk) relayChoice {
	var ok []scoredRelay
	var all, visible relayTally
	for _, rel := range cands {
		why := ask.refuse(rel)
		all.add(rel, why)
		if ask.visible(rel) {
			visible.add(rel, why)
		}
		if why != "" {
			continue
		}
		s := scoredRelay{rel: rel, guest: latency(ask.guestLatency, rel.ID), host: latency(ask.hostLatency, rel.ID), load: loadPenalty(rel)}
		s.score = s.guest + s.host + s.load
		ok = append(ok, s)
	}
	slices.SortFunc(ok, func(a, b scoredRelay) int {
		return cmp.Or(cmp.Compare(a.score, b.score), cmp.Compare(a.rel.ID, b.rel.ID))
	})
	if len(ok) == 0 {
		return relayChoice{reason: all.none(), shown: visible.none()}
	}
	b := ok[0]
	chosen := fmt.Sprintf("%s: lowest score %dms (guest %dms + host %dms + load %dms at %d sessions, %d B/s)",
		b.rel.ID, b.score, b.guest, b.host, b.load, b.rel.Sessions, b.rel.BytesPerSec)
	return relayChoice{relay: b.rel, found: true, reason: all.chosen(chosen), shown: visible.chosen(chosen)}
}

// relayTally counts the candidates one reader may know of, and those of them skipped and why.
type relayTally struct {
	candidates, eligible int
	skipped              []string
}

func (t *relayTally) add(rel store.Relay, why string) {
	t.candidates++
	if why == "" {
		t.eligible++
		return
	}
	t.skipped = append(t.skipped, rel.ID+" ("+why+")")
}

func (t *relayTally) tail() string {
	if len(t.skipped) == 0 {
		return ""
	}
	return "; skipped " + strings.Join(t.skipped, ", ")
}

// none is the reason when no relay fits.
func (t *relayTally) none() string {
	return fmt.Sprintf("no relay fits among %d candidates%s", t.candidates, t.tail())
}

// chosen is the reason for the chosen relay, said as chosen.
func (t *relayTally) chosen(chosen string) string {
	return fmt.Sprintf("%s of %d eligible%s", chosen, t.eligible, t.tail())
}

// visible reports whether the Guest of this session may know of rel: a vendor relay, or a
// private relay of the Host's own tenant.
func (ask relayAsk) visible(rel store.Relay) bool {
	return !rel.Private || rel.Owner == ask.tenant
}

// refuse says why rel may not carry the session, or "".
func (ask relayAsk) refuse(rel store.Relay) string {
	switch {
	case rel.Private && rel.Owner != ask.tenant:
		return "another tenant's private relay"
	case (ask.privateOnly || ask.obligations.PrivateRelaysOnly) && !rel.Private:
		return "not the tenant's private relay"
	case len(ask.obligations.RelayRegions) > 0 && !slices.Contains(ask.obligations.RelayRegions, rel.Region):
		return "region " + rel.Region + " not allowed"
	case slices.Contains(ask.exclude, rel.ID):
		return "pairing failed there"
	case rel.MaxSessions > 0 && rel.Sessions >= rel.MaxSessions:
		return "full"
	}
	return ""
}

// latency is an end's measured latency to a relay, or unknownLatencyMS.
func latency(m map[string]int64, id string) int64 {
	if ms, ok := m[id]; ok && ms >= 0 {
		return ms
	}
	return unknownLatencyMS
}

// loadPenalty is a relay's load in milliseconds of score.
func loadPenalty(rel store.Relay) int64 {
	p := int64(rel.Sessions) * perSessionPenaltyMS
	if rel.MaxSessions > 0 {
		p = int64(rel.Sessions) * fullLoadPenaltyMS / int64(rel.MaxSessions)
	}
	return min(p, fullLoadPenaltyMS) + rel.BytesPerSec*bytesPenaltyMSPerMiBps/(1<<20)
}
