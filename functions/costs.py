"""Lambda: once a day (EventBridge Scheduler), this month's costs by CostCategory into the table.

Any event; returns {"updated_at", "by_category"} of the "costs" state document it wrote
(aiv/aws/costs.py). Cost Explorer is a global service answered from us-east-1.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3

from aiv.aws.costs import refresh_costs
from aiv.aws.environment import experiment_store, require_env
from aiv.aws.observability import logger, tracer
from aiv.names import PROJECT

CE_REGION = "us-east-1"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: Any, context: Any) -> dict:
    document = refresh_costs(
        boto3.client("ce", region_name=CE_REGION),
        experiment_store(),
        require_env(PROJECT),
        datetime.now(timezone.utc).date(),
    )
    logger.info("costs refreshed", extra={"by_category": document["by_category"], "days": len(document["daily"])})
    return {"updated_at": document["updated_at"], "by_category": document["by_category"]}
