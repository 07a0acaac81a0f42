// Package rawconn wraps a TCP connection so that its reads and writes are raw system calls on
// its non-blocking socket, waiting in Go's network poller when the socket is not ready.
//
// A goroutine that enters an ordinary system call tells the scheduler, which wakes its
// monitor thread (sysmon) if that thread was asleep; the monitor then watches at 20 µs
// intervals for a millisecond. A relay that goes idle between bursts thousands of times a
// second pays a thread wake-up and several short sleeps for each burst: 10–18 % of the CPU of
// each process on the fast level's path, on a virtual machine where every wake-up is costly. A
// read or write on a non-blocking socket never blocks, so it needs no hand-off: the wrapped
// connection makes it without telling the scheduler and waits in the poller, as the net
// package does, when the socket has nothing to read or no room to write. Deadlines, Close and
// every other method are the TCP connection's.
//
// Where raw system calls are not available (other systems), Wrap returns the connection as it is.
package rawconn
