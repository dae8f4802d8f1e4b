// Package control is the WebSocket control channel between amdd and its
// clients (amdgw, amdctl, customers' services): versioned JSON messages, the
// server that runs inside amdd and the client used by amdgw and amdctl. It
// carries commands and events, never call media. docs/control-protocol.md
// documents every message.
package control
