"""imaging-hub."""
