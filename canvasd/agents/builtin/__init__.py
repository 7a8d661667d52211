"""The built-in agents, one plugin module each (registered exactly like third-party plugins)."""
