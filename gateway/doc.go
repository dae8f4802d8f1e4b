// Package gateway is amdgw, the dialout front end of the AMD engine: a
// Kore.ai Voice Gateway compatible HTTP API (POST .../smartassist/dialout
// with a JWT in the "auth" header), the link to one or more amdd engines
// over the WebSocket control channel, the mapping of the engine's
// call.status / amd.event messages to call records and notifications, and
// the interactions API and page.
//
// Durability is the design's centre: a call record is written before the
// engine is asked to dial, every notification is written to the outbox (in
// the same transaction as the record change that caused it) before it is
// sent, and gateway/notify drains the outbox in order per call with
// retries. A gateway killed at any moment resumes on restart: it
// re-subscribes to its open calls with replay, and the engine's history of
// each call fills in what the gateway had received but not stored, or
// missed while down (duplicates are skipped by AMD seq and status). A call
// whose engine went away is resolved when the engine comes back, at once if
// the engine no longer knows it, or marked Failed with amd_error after
// Config.EngineLossTimeout.
//
// Sub-packages: gateway/store (SQLite records and outbox), gateway/notify
// (signing and delivery), gateway/auth (JWT).
package gateway
