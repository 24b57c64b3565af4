"""Production mode: Redis Sentinel, several machines simulated as processes, the Procfile and systemd units."""
