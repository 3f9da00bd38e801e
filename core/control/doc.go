// Package control is the local control API: core.Controller over HTTP on a Unix domain
// socket (Linux, macOS) or a named pipe (Windows), served by every engine process (the
// installed service, pin-clientd in a terminal, the desktop app's own engine) and used by
// every face (the app's window and tray, the CLI's status/online/offline/reload/logs).
// Tailscale's LocalAPI is the model. docs/control-api.md has the same reference.
//
// # Endpoints
//
//	user engine    Linux    $XDG_RUNTIME_DIR/pin-client/engine.sock
//	                        (no XDG_RUNTIME_DIR: os.TempDir()/pin-client-<uid>/engine.sock)
//	               macOS    $TMPDIR/pin-client/engine.sock (the per-user temporary directory)
//	               Windows  \\.\pipe\pin-client-<username>
//	system service Linux    /run/pin-clientd/engine.sock
//	               macOS    /var/run/pin-clientd/engine.sock
//	               Windows  \\.\pipe\pin-clientd
//
// $PIN_CONTROL_SOCKET, when set, replaces the user path. Faces look for the system
// service first, then the user's engine (DefaultPaths, Find).
//
// # Who may connect
//
// The socket is mode 0600 in a 0700 directory (0660 and the pin-client group for the
// system service). On Linux (SO_PEERCRED) and macOS (LOCAL_PEERCRED) the server also
// checks the peer's credentials against a Policy: the engine's own user, root, and the
// members of Policy.GID. A refused peer gets 403 and the engine logs one warning naming
// its uid and pid. On Windows the pipe's security descriptor admits only the current
// user (SYSTEM and Administrators for the system service).
//
// Requests must carry "Host: pin-client" (or localhost) and "Pin-Control-Version: v1"; a
// request with an Origin header is refused. A web page cannot reach a Unix socket, but
// these checks keep the API safe if it is ever proxied to a TCP port (the DNS-rebinding
// defence of Tailscale's LocalAPI).
//
// # Wire API (v1)
//
// JSON in and out. Info is camelCase; core.Status keeps its Go field names, its State is
// a word ("online", "draining", …), times are RFC 3339, log levels are "INFO"/"WARN"/….
// Clients ignore fields they do not know.
//
//	GET  /v1/info       200 Info
//	GET  /v1/status     200 {"engine": Info, "status": Status}
//	GET  /v1/watch      200 NDJSON: the current Status, then each change (coalesced);
//	                        a blank line every 15 s keeps the stream alive
//	GET  /v1/logs       200 NDJSON: the recent log lines (LogLine), oldest first;
//	                        ?follow=1: then each new line as it arrives (blank keep-alives)
//	POST /v1/online     202 {"ok": true}  go online
//	POST /v1/offline    202 {"ok": true}  drain running jobs, then disconnect
//	POST /v1/reconnect  202 {"ok": true}  skip the backoff wait
//	POST /v1/reload     200 {"ok": true}  re-read the config, drain, reconnect with it;
//	                    400 {"error": "…"} when the config is invalid (nothing changed)
//
// Errors are {"error": "one line"}: 400 a bad request or missing version header, 403 a
// refused peer, host or origin, 404 an unknown path, 405 a wrong method (with Allow),
// 413 a body over 64 KiB, 503 no engine. Streams end when the client leaves or the server
// stops; a client reading one treats its end as the engine going away.
package control
