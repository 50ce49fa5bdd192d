"""The clinic console: server-rendered pages on the daemon's own HTTP server (issue 9)."""
