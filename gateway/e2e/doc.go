// Package e2e holds amdgw's end-to-end tests against the real engine: amdd
// (daemon.Service) in-process, SIPp callees streaming corpus clips, the
// gateway talking to amdd over the control channel, and a receiver that
// verifies every notification. It is its own package so the gateway's unit
// tests never depend on the daemon building.
package e2e
