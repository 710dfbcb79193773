"""The simulated cluster: its state store, and the endpoints it serves on the wire."""
