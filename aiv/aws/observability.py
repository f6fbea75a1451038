"""Powertools logger, tracer and metrics shared by every Lambda handler (one place, as in the cookbook).

The service name comes from POWERTOOLS_SERVICE_NAME (set per function by the stacks); metrics go
to the CloudWatch namespace "AiV1" as embedded metric format. Tracing is off outside Lambda.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from aiv.names import METRICS_NAMESPACE

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=METRICS_NAMESPACE)


def count(name: str) -> None:
    """Add 1 to the metric `name` (flushed when the handler returns)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
