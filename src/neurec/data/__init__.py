"""Data: reading shop tables, validating them, splitting by time, and the embedded shop simulator."""
