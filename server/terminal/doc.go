// Package terminal streams a learner's shell to the browser: a Terminal core
// that knows nothing of websockets, a Session that owns one Terminal and keeps a
// bounded replay buffer, and a websocket Handler speaking the kindlab.term.v1
// protocol. The learner's shell itself (a TTY in the workstation pod) comes from
// package workstation. A Session given WithObserver strips the shell's
// integration marks (package shellmark) from the output before any client sees
// them, and tells the observer what was typed, written and marked.
//
// # Protocol (subprotocol kindlab.term.v1)
//
// One websocket per terminal. The client must offer the subprotocol
// kindlab.term.v1; any other request is refused before the upgrade, as is a
// browser Origin that is not allowed (403).
//
// Server to client, binary frames carry output: an 8-byte big-endian sequence
// number followed by the bytes of that chunk. Sequence numbers are per session,
// start at 1 and increase by one per chunk.
//
// Both directions, text frames carry one JSON control message each.
//
// Client to server:
//
//	{"type":"hello","token":"...","lastSeq":N,"epoch":"..."}  first frame, within Limits.HelloTimeout
//	{"type":"input","data":"..."}               keystrokes; refused on a read-only terminal
//	{"type":"resize","cols":C,"rows":R}         1 <= C, R <= 1000; refused on a read-only terminal
//	{"type":"ping"}                             answered with pong
//
// Server to client:
//
//	{"type":"hello","seq":N,"epoch":"...","readOnly":B}  N is the last sequence number when the client attached
//	{"type":"gap","from":N}                output after the client's lastSeq was dropped; what follows starts at N
//	{"type":"pong"}
//	{"type":"exit","code":N}               the program ended (-1: it ended without an exit status)
//	{"type":"error","message":"..."}       a plain-words problem with the last message; the connection stays up
//
// A session's sequence numbers belong to its epoch. A new shell (the last one
// ended, its cluster was replaced, or kindlab restarted) is a new epoch that
// starts with the earlier terminal's output (WithHistory). A client that names
// the epoch it saw in its hello and finds another one gets every chunk from
// the first, and clears its screen before writing them.
//
// After hello the server sends, in order: its hello, a gap notice if output
// was lost, every buffered chunk after lastSeq, then live output. A client
// that reconnects with the sequence number of the last chunk it saw gets
// exactly the chunks after it, never one twice.
//
// Malformed JSON, unknown message types and binary frames get an error
// message; more than Limits.MaxBadMessages of them in a row close the
// connection (1008). Close codes: 1000 the terminal exited, 1008 protocol
// violation (no hello in time, hello not first, too many bad messages), 1009
// message larger than Limits.MaxMessageSize, 1013 not available yet (the
// session's cluster is being made or connected: reconnect with backoff),
// 4001 not authorized, 4008 too slow.
//
// # Slow clients
//
// The terminal is never slowed down by a browser. The session's reader hands
// each chunk to every attached client without blocking: each client has a
// bounded queue (256 chunks by default). When a client's queue is full, the
// client is too slow: it is dropped and its connection is closed with code 4008
// and the reason "too slow; reconnect to catch up". Because the session keeps
// the replay buffer (512 KiB by default), the browser reconnects with its last
// sequence number and receives what it missed, or a gap notice and everything
// still buffered if it fell further behind than the buffer holds. The same
// policy applies to control replies (pong, error) that a client does not read.
// A client whose socket accepts nothing for Limits.WriteWait is disconnected
// without a close frame, and reconnects the same way.
package terminal
