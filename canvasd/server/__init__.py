"""The HTTP API: translates requests to calls on the daemon's components and errors to statuses."""
