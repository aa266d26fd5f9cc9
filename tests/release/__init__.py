"""Smoke test of the newest Home Assistant release (run by .ci/run inside py314)."""
