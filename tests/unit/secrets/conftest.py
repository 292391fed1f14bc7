"""Secrets Manager fixtures (moto), shared with the other secrets tests."""

from tests.support.secrets import clock, counting, sm

__all__ = ["clock", "counting", "sm"]
