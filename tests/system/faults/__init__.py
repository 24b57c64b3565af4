"""The fault suite: real processes, local stand-ins over HTTP, load and faults at once."""
