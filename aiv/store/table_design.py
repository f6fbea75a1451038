"""The DynamoDB table design: names, keys and indexes, in one place and without boto3.

The CDK storage stack builds the tables from these constants, `create_tables` builds the same
schema through an API client (tests, local use), and aiv/store/dynamodb.py writes items that fit
it. Every key attribute is a string ("S"); billing is on demand.

Experiments table (single-table design, base key `pk`/`sk`):

    pk                  sk                          what
    EXP#<id>            META                        an experiment: `record` (its JSON), `version`
    EXP#<parent id>     CHILD#<created_at>\\0<id>    one parent link of experiment <id>
    EXP#<id>            EVT#<seq, 20 digits>        an event of experiment <id>: `event` (its JSON)
    CAMPAIGN            EVT#<seq, 20 digits>        a campaign-level event
    COUNT               <status>                    how many experiments have that status: `n`
    COUNTER             EVENT_SEQ                   the last event sequence number: `n`
    STATE#<key>         STATE                       a campaign-state document: `value` (its JSON)
    SCHEMA              SCHEMA                      the layout version of the stored items: `version`

Global secondary indexes (sparse: an item without the index's attributes is not in it; all
project every attribute, so a page view is one query):

    by_time              time_pk = "EXP"                      time_sk = <created_at>\\0<id>
    by_status            status_pk = <status>                 status_sk = <created_at>\\0<id>
    by_score             score_pk = "SCORE#<benchmark>#train"             score_sk = <sortable score>#<id>
    by_score_validation  score_validation_pk = "SCORE#<benchmark>#validation"   score_validation_sk = likewise
    by_code              code_pk = "CODE#<code_sha256>"       code_sk = <created_at>\\0<id>
    by_event             event_pk = "EVENTS"                  event_sk = <seq, 20 digits>

The score indexes hold only succeeded experiments with a score on that split, one partition per
benchmark (aiv/benchmark.py), so a ranking, a parent selection or a duplicate check is one query of
one benchmark and never mixes two. Schema 1 items (written before benchmarks) have
score_pk = "SCORE#<split>": that is the partition of the "unknown" benchmark, read as it is. The idempotency
table is the Powertools idempotency utility's default schema: partition key `id`, TTL `expiration`.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 2  # 2: score partitions per benchmark
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
KEY_TYPE = "S"
BILLING_MODE = "PAY_PER_REQUEST"

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TABLE_KEY = (PARTITION_KEY, SORT_KEY)


@dataclass(frozen=True)
class GlobalIndex:
    """A global secondary index: its name, its key attributes (both strings), projecting everything."""

    name: str
    partition_key: str
    sort_key: str
    projection: str = "ALL"


BY_TIME = GlobalIndex("by_time", "time_pk", "time_sk")
BY_STATUS = GlobalIndex("by_status", "status_pk", "status_sk")
BY_SCORE = GlobalIndex("by_score", "score_pk", "score_sk")
BY_SCORE_VALIDATION = GlobalIndex("by_score_validation", "score_validation_pk", "score_validation_sk")
BY_CODE = GlobalIndex("by_code", "code_pk", "code_sk")
BY_EVENT = GlobalIndex("by_event", "event_pk", "event_sk")
INDEXES = (BY_TIME, BY_STATUS, BY_SCORE, BY_SCORE_VALIDATION, BY_CODE, BY_EVENT)
GSIS = {index.name: (index.partition_key, index.sort_key) for index in INDEXES}
SCORE_INDEXES = {"train": BY_SCORE, "validation": BY_SCORE_VALIDATION}

IDEMPOTENCY_KEY = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"


def experiments_table_request(table_name: str) -> dict:
    """The CreateTable request of the experiments table (DynamoDB API shape)."""
    attributes = [*TABLE_KEY, *(name for index in INDEXES for name in (index.partition_key, index.sort_key))]
    return {
        "TableName": table_name,
        "BillingMode": BILLING_MODE,
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": KEY_TYPE} for name in attributes],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": index.projection},
            }
            for index in INDEXES
        ],
    }


def idempotency_table_request(table_name: str) -> dict:
    """The CreateTable request of the idempotency table (its TTL is enabled separately)."""
    return {
        "TableName": table_name,
        "BillingMode": BILLING_MODE,
        "AttributeDefinitions": [{"AttributeName": IDEMPOTENCY_KEY, "AttributeType": KEY_TYPE}],
        "KeySchema": [{"AttributeName": IDEMPOTENCY_KEY, "KeyType": "HASH"}],
    }


def create_tables(client, experiments_table: str, idempotency_table: str) -> None:
    """Create both tables through a DynamoDB API client, wait until active, and turn on the TTL."""
    client.create_table(**experiments_table_request(experiments_table))
    client.create_table(**idempotency_table_request(idempotency_table))
    for name in (experiments_table, idempotency_table):
        client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(
        TableName=idempotency_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": IDEMPOTENCY_TTL_ATTRIBUTE},
    )
