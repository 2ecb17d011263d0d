"""Helpers shared by the test suite: real processes, real SSE, small real models."""
