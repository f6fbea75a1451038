"""Tests of the CDK app: synthesized once per session (conftest.py), no Docker, no AWS."""
