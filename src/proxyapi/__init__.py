"""ProxyAPI."""
