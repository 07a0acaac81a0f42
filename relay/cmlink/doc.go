// Package cmlink is a Connection Server's link to its Connection Manager: everything a CS says
// to the CM and everything it takes from it, over HTTPS with the relay's client certificate.
// It is the relay's twin of the Host agent's CM client in package endpoint.
//
// A running link (Link.Run):
//
//   - registers the relay and reports its load (live sessions, bytes per second, the ids of
//     the sessions it holds) at the interval the CM asks for; a draining relay says so once
//     more on its way out (Link.Drain), so that the CM assigns it no new session;
//   - fetches the CM's ticket-signing keys at start (retrying until the CM answers: a relay
//     without keys can verify no ticket) and refreshes them every KeyRefresh (rotation); a
//     failed or invalid refresh keeps the keys in place;
//   - long-polls the CM for its commands and carries them out: each is an order to end one
//     session now (a lock or a policy change), and a CM that is down is retried with a
//     growing, jittered pause while live sessions go on;
//   - reports each pairing (how the two halves arrived: "tcp" or "http") and each session's
//     end (bytes, duration, reason) to the CM.
//
// Every relay speaks to the CM with a client certificate that names it, "relay:<id>", and the
// CM binds every call to that id: a relay reports, registers and polls for itself only. A
// tenant's private relay gets its certificate when it enrols once with a relay enrollment
// token (LoadIdentity): it makes an Ed25519 key, the CM issues the certificate for it, and both
// are kept in the relay's state directory. A vendor
// relay's certificate is issued by the vendor's CA (`portcullis certs relay --id <id>`);
// LoadIdentity refuses one that names another relay, or the relays' old shared certificate.
//
// This package owns the CS's side of the CM's relay API and the files of the relay's state
// directory. It never verifies a ticket or touches a session's bytes (package relay does the
// one and never does the other), never decides anything on the CM's behalf (it only asks the
// relay to end the sessions the CM names), never links the policy engine, never writes a key
// readable by anyone but its owner, and holds no package-level mutable state.
package cmlink
