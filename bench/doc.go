// Command bench is the Portcullis benchmark suite, run by `make bench` (never by `make test`).
// It starts everything on loopback — a real CM, CS and Host from the portcullis binary (package
// localstack), two OpenSSH daemons, socat — measures Portcullis beside the limit (plain loopback
// TCP) and beside OpenSSH on the same machine in the same run, stops it all, prints a table with
// pass or fail beside each target, and writes every figure and ratio to bench/results.json.
//
// What it measures, and how:
//
//   - throughput: one bulk download from a TCP source on the Host's side, read by a client on
//     the Guest's side, through each path: the source directly (the limit), a socat relay,
//     OpenSSH (`ssh -J` through one sshd to a second sshd, with a forwarded port: SSH end to end,
//     relayed) and Portcullis (Guest → CS → Host, TLS on both legs, SSH end to end). Beside
//     each rate, "<path> CPU" is the CPU time the path's processes and their children (socat;
//     the ssh client, its ProxyJump ssh and both sshd's; the Guest, CS and Host) spent per MB
//     (/proc), and "portcullis CPU/openssh_jump CPU" their ratio: rates move with the machine's
//     load, CPU per MB much less.
//   - set-up: wall time of `portcullis exec HOST -- true` (signed in already) and of
//     `ssh -J JUMP TARGET true`, each run at least 30 times.
//   - cp: one file (-size) downloaded and uploaded between this machine and the bench Host with
//     `portcullis cp` (SFTP) and with `portcullis exec HOST -- cat`, 3 interleaved rounds; MB/s
//     of each (medians, the session's set-up included for both) and cp's share of exec cat's
//     rate each way (target ≥ 90 %).
//   - failover: a second relay in the bench relay's region; the relay `exec -v` is given is made
//     to hang (SIGSTOP: the kernel still accepts connections to it) and `exec` runs again: the
//     Guest's own account of how long it gave the hung relay before trying the other (target
//     ≤ 3 s, p50 of 5 runs) and the whole command's time.
//   - decisions: POST /v1/connect answered 200 per second, i.e. identity verified, policy
//     evaluated, decision record committed, tickets and certificate minted, session recorded and
//     the Host's half queued on its long-poll (the relay leg and the SSH handshake are not
//     part of it: set-up measures those). Simulated Hosts drain their long-polls. Closed loop
//     for the maximum, open loop at a fixed rate for the latency target (with the CPU time the
//     hypervisor withheld meanwhile: a stopped vCPU stalls every request in flight); SQLite
//     and PostgreSQL. The closed loop's CPU time per connect is reported for the CM, for the
//     PostgreSQL server (its postmaster's process tree) and for the whole machine (/proc/stat),
//     with the rate each allows on this machine's cores. On each store the higher rate of the
//     two closed loops (32 and 128 Guests) is checked against 1,000 connects/s and the lower
//     CM CPU time per connect against 0.8 ms. For the fixed rate, the CM's own
//     account from its metrics: the share of connects it answered within 20 ms, the mean time
//     of a connect's decide and commit steps, how much of the phase the database's writer was
//     held and how many writes a group commit carried.
//   - opa: Engine.Decide timed in-process, one decision at a time (p50, p99, and the CPU time
//     per decision from /proc): the default policy on a typical allowed connect; on the same
//     input a policy of one constant decision (the engine's own share) and one of a single
//     allowing rule (the floor of any policy that checks the request); then the default rules with 10, 100 and 1,000 generated roles of the default's shapes (package
//     rolegen) on varied requests for 10,000 generated tagged Hosts.
//   - heartbeats: POST /v1/hosts/heartbeat per second from 256 enrolled, simulated Hosts,
//     each with its own mTLS client certificate and connection, and the CM's CPU time per
//     heartbeat. Each Host pipelines 8 heartbeats (HTTP/1.1 pipelining: requests built once,
//     written in one TLS record, answers read in order by a small reader rather than
//     net/http's client), so the load generator, which shares the machine with the CM, spends
//     a fraction of the CM's CPU per heartbeat; the section reports its CPU per heartbeat too,
//     and the p50 and p99 of a batch of 8. The CM still answers one request at a time per
//     connection, with one write per answer.
//   - hosts: one CM holding -hosts (50,000) simulated online Hosts, each idle in its long-poll
//     (HTTP/1.1, as the Host agent polls) on its own TLS connection, as each real Host is its
//     own machine: the CM's RSS growth per Host, its CPU time per Host per minute over
//     -hosts-idle, its CPU time per Host connecting, and the time until a connect to one of
//     them reaches that Host's waiting long-poll. The Hosts are enrolled through the store
//     (an enrollment token consumed per Host, as the CM enrols) with certificates signed by the
//     stack's CA on every CPU, all for one shared key, so that 50,000 take a minute or two on
//     two cores, not hours of enrolments; the CM authenticates them as any Host. The fleet
//     connects in three steps (a quarter, half, all), and the CM's RSS per Host is reported at
//     each; only when each Host added the same memory (within 20 %) in the lower and the upper
//     half is the memory of 50,000 extrapolated. Both processes need a descriptor per Host:
//     when the open-file limit cannot be raised that far, the section holds as many as it
//     allows, reports the limit (open_file_limit) and names it in the target's line.
//   - sessions: idle paired sessions through one CS process; memory per session is the CS's
//     RSS growth divided by the number of sessions, read at 1,000, 5,000 and all sessions (each
//     after the CS parks its idle sessions) and again after a minute idle, beside the heap, the
//     goroutine stacks and the goroutines per session from the CS's metrics (with -profile, the
//     CS's heap profile is saved too). The CS holds two descriptors per session,
//     so the suite raises RLIMIT_NOFILE (children inherit it) and, when the hard limit cannot
//     be raised (root without CAP_SYS_RESOURCE, as in containers), opens as many sessions as
//     the limit allows and says so. The Host halves are held by a second process (this binary
//     with PORTCULLIS_BENCH_HOLD set) for the same reason; tickets are minted with the CM's
//     ticket key from the local stack's certificates, so the CS verifies them as it does any.
//   - flood: for each transport (TCP+TLS, the HTTP fallback), a CS with its default limits and
//     -flood slow connections from 127.0.0.1 (one byte every 10 s; a TCP connection that never
//     finishes its ClientHello, a tunnel whose hello never completes; each opened again a second
//     after the CS displaced it), then 20 sessions whose Host and Guest halves come from the same
//     address, each timed until both are paired (the target: under 2 s), and the CS's RSS
//     before and under the flood. The slow connections come from a third process (this binary
//     with PORTCULLIS_BENCH_FLOOD set) at the lowest CPU priority: an attacker's CPU is not the
//     CS's, and a flood of TLS clients in the suite's own process took the CPU from the
//     legitimate client beside it.
//   - policychange: a CM whose policy is a directory it watches (its poll set beyond the run, so
//     only file notifications count), a CS and the bench Host; alice holds a session, the
//     policy file is rewritten (beside, then renamed) to deny it, and the times from the write
//     to the CM's roll-out, the CM's ending of the session, the Host's order and the CS's end
//     (from their logs) and the Guest's exit are taken, p50 and p95 over 20 changes; the
//     target is Host and CS both ended within 2 s p95.
//   - scaling: a decision log grown to 10k, 100k and 1M records (store.ImportDecisions) on
//     SQLite and on a throwaway PostgreSQL, and at each size the fastest of several runs of one
//     page (100 records) of the auditor's queries: newest, by user, by a rare user, by host,
//     denied, by user and denied, a keyset page 99 % deep, by a rare reason and by a common
//     one; beside each, the ratio of its time at the largest size to its time at 10k (about 1:
//     flat; about 100 from 10k to 1M: linear). -scaling-max stops the log at a smaller size.
//     Every query but the reason is served by an index that returns the page in time order, so
//     it reads about one page of rows at any size: flat. The reason is a case-insensitive
//     substring match that a trigram index serves (migration 0012, store/reasonindex.go): a
//     rare reason's few records are read from it, a common reason is found by reading newest
//     first, which fills the page at once; both flat.
//
// Before each decisions section the machine settles: the suite writes the page cache's dirty
// pages out (the data-path sections' files) and waits until the load average over the last
// minute is below 1.0, for at most 90 s (settle in bench.go; the log says how long it waited
// and the load column what it reached).
//
// Beside each load figure the suite records the CPU time the CM spent per operation (from
// /proc) and the rate that would give with every CPU to itself: on a shared machine the rate
// measures the machine, the CPU time measures the code. Profiles: -profile DIR (created if
// missing) saves CPU profiles of the CM under the decision and heartbeat loads, a runtime trace
// of the first seconds of its fixed-rate phase (cm-fixed-sqlite.trace: where the store's writer
// and the requests spent their time), and CPU and heap profiles of the CM holding its idle Hosts
// (the CM and CS take --pprof-listen on loopback). Profiling and tracing slow the CM: a run with
// -profile diagnoses, its figures do not count.
//
// It must never run inside `make test`: it takes minutes, needs root for sshd, and its figures
// depend on the machine.
package main
