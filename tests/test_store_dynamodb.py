"""The AWS stores (DynamoDB + S3) on moto: the contract suite, plus what only they have:
no Scan, sparse score indexes, exact counters under concurrent writers, cursors, presigned URLs,
the item size limit, and the same answers as the SQLite store for the same writes."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import replace
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import botocore.awsrequest
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from aiv.errors import UsageError
from aiv.store import dynamodb as dynamo_module
from aiv.store.dynamodb import DynamoExperimentStore
from aiv.store.ports import ConflictError
from aiv.store.records import STATUSES, Experiment, ResultSummary, Summaries
from aiv.store.s3 import S3ArtifactStore
from aiv.store.sqlite import SqliteExperimentStore
from aiv.store.table_design import BY_SCORE, BY_SCORE_VALIDATION, SCHEMA_VERSION, create_tables
from store_contract import (
    BM,
    WORKER_FIELDS,
    ArtifactStoreContract,
    ExperimentStoreContract,
    make_experiment,
    seed,
    walk_pages,
)

REGION = "eu-west-1"
TABLE = "aiv-experiments"
BUCKET = "aiv-artifacts-test"
# What the store may call: reads by key, index queries, conditional and transactional writes.
ALLOWED_OPERATIONS = {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "TransactWriteItems"}


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS call, with fake credentials, so nothing can reach a real account.

    moto's handlers are not thread-safe (a failed transaction restores a copy of the whole table,
    undoing other threads' writes), so each request is made atomic, as DynamoDB makes it.
    """
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    lock, handle = threading.Lock(), BotocoreStubber.__call__

    def one_request_at_a_time(self, *args, **kwargs):
        with lock:
            return handle(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", one_request_at_a_time)
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws):
    """A DynamoDB client on a fresh experiments table; `client.operations` lists every call made after."""
    client = boto3.client("dynamodb", region_name=REGION)
    create_tables(client, TABLE, "aiv-idempotency")
    client.operations = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: client.operations.append(model.name))
    return client


@pytest.fixture
def store(dynamodb):
    """A DynamoExperimentStore on the fresh table; afterwards, it must have used only key and index access."""
    yield DynamoExperimentStore(TABLE, client=dynamodb)
    used = set(dynamodb.operations)
    assert "Scan" not in used and used <= ALLOWED_OPERATIONS, f"unexpected DynamoDB operations: {used}"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


class TestDynamoExperimentStore(ExperimentStoreContract):
    @pytest.fixture
    def experiment_store(self, store):
        return store


class TestS3ArtifactStore(ArtifactStoreContract):
    @pytest.fixture(params=["", "lab/v1"])
    def artifact_store(self, request, s3):
        return S3ArtifactStore(BUCKET, prefix=request.param)


def raw_item(client, experiment_id: str) -> dict:
    return client.get_item(TableName=TABLE, Key={"pk": {"S": f"EXP#{experiment_id}"}, "sk": {"S": "META"}})["Item"]


def index_ids(client, index, partition: str) -> list[str]:
    items = client.query(
        TableName=TABLE,
        IndexName=index.name,
        KeyConditionExpression="#p = :p",
        ExpressionAttributeNames={"#p": index.partition_key},
        ExpressionAttributeValues={":p": {"S": partition}},
    )["Items"]
    return [json.loads(item["record"]["S"])["id"] for item in items]


# --- access patterns ----------------------------------------------------------------------------


def test_the_operation_log_would_see_a_scan(dynamodb):
    dynamodb.scan(TableName=TABLE)
    assert "Scan" in dynamodb.operations


def test_score_indexes_are_sparse_and_follow_updates(store, dynamodb):
    record = seed(store, [1], status="succeeded", score=-3.0, score_validation=1.0)[0]
    assert index_ids(dynamodb, BY_SCORE, f"SCORE#{BM}#train") == [record.id]
    assert index_ids(dynamodb, BY_SCORE_VALIDATION, f"SCORE#{BM}#validation") == [record.id]

    store.update_experiment(record.id, {"score": None})
    item = raw_item(dynamodb, record.id)
    assert BY_SCORE.partition_key not in item and BY_SCORE.sort_key not in item
    assert index_ids(dynamodb, BY_SCORE, f"SCORE#{BM}#train") == []
    assert index_ids(dynamodb, BY_SCORE_VALIDATION, f"SCORE#{BM}#validation") == [record.id]

    store.update_experiment(record.id, {"status": "failed", "score": -4.0})
    item = raw_item(dynamodb, record.id)
    assert not {BY_SCORE.partition_key, BY_SCORE_VALIDATION.partition_key} & set(item)
    assert index_ids(dynamodb, BY_SCORE_VALIDATION, f"SCORE#{BM}#validation") == []
    assert store.best_experiments(benchmark=BM, split="validation") == []


def test_best_orders_scores_exactly_as_sqlite_does(store, tmp_path):
    scores = [1e100, -1e100, 2.5, -2.5e-7, 0.0, -0.0, 0, 3, -5, 5e-324, -5e-324, 2.5, 1e-300, -7.25, 7]
    reference = SqliteExperimentStore(tmp_path / "lab.sqlite")
    for n, score in enumerate(scores):
        for target in (store, reference):
            seed(target, [n], status="succeeded", score=score, score_validation=-score)
    for split in ("train", "validation"):
        expected = [r.id for r in reference.best_experiments(benchmark=BM, limit=100, split=split)]
        assert [r.id for r in store.best_experiments(benchmark=BM, limit=100, split=split)] == expected
    reference.close()


def test_same_answers_as_sqlite_for_the_same_writes(store, tmp_path):
    reference = SqliteExperimentStore(tmp_path / "lab.sqlite")
    same_time = make_experiment(3).created_at
    for target in (store, reference):
        seed(target, [5, 1, 9], parents=["exp-root", "exp-root"])
        seed(target, [7, 8], created_at=same_time, code_sha256="c" * 64)
        for n, created_at in ((2, "2026-01-01 00:00:05"), (3, "2026-01-01 00:00:05 UTC"), (4, "2026-01-01 00:00:05.5")):
            seed(target, [n], created_at=created_at)  # one a prefix of another: (created_at, id) order
        target.update_experiment(
            make_experiment(9).id, {"status": "succeeded", "score": -1.5, "created_at": make_experiment(0).created_at}
        )
        target.update_experiment(make_experiment(1).id, {"parents": ["exp-other"], "status": "failed"})
    for query in (
        lambda s: [[r.id for r in page] for page in walk_pages(s, limit=2)],
        lambda s: [[r.id for r in page] for page in walk_pages(s, limit=1, status="proposed")],
        lambda s: [r.id for r in s.children("exp-root")],
        lambda s: [r.id for r in s.children("exp-other")],
        lambda s: [r.id for r in s.find_by_code("c" * 64)],
        lambda s: [r.id for r in s.best_experiments(benchmark=BM)],
        lambda s: s.count_by_status(),
    ):
        assert query(store) == query(reference)
    for n in (1, 2, 5, 7, 8, 9):  # the same records, but for the time of their last update
        experiment_id = make_experiment(n).id
        mine, theirs = store.get_experiment(experiment_id), reference.get_experiment(experiment_id)
        assert mine.updated_at and theirs.updated_at and replace(mine, updated_at="") == replace(theirs, updated_at="")
    reference.close()


def test_a_cursor_is_opaque_and_a_tampered_one_is_refused(store):
    seed(store, range(6))
    cursor = store.list_experiments(limit=2).cursor
    assert make_experiment(4).id not in cursor and base64.urlsafe_b64decode(cursor)
    for tampered in (
        "not a cursor!",
        cursor[:-3],
        base64.urlsafe_b64encode(b'{"at": 1}').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01"]').decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ):
        with pytest.raises(ValueError, match="cursor"):
            store.list_experiments(limit=2, cursor=tampered)
    rest = store.list_experiments(limit=10, cursor=cursor)
    assert [r.id for r in rest.items] == [make_experiment(n).id for n in (3, 2, 1, 0)]


def test_full_pages_across_the_1mb_query_limit(store):
    seed(store, range(30), settings={"blob": "x" * 100_000})
    pages = walk_pages(store, limit=25)
    assert [len(page) for page in pages] == [25, 5]
    assert [r.id for page in pages for r in page] == [make_experiment(n).id for n in range(29, -1, -1)]


def test_children_beyond_one_batch_read(store):
    seed(store, range(1, 131), parents=["exp-root"])
    assert [r.id for r in store.children("exp-root")] == [make_experiment(n).id for n in range(1, 131)]


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_updaters_lose_nothing_and_counters_stay_exact(store):
    target = seed(store, [0])[0].id
    pool_ids = [r.id for r in seed(store, range(1, 9))]
    claims: list[str] = []

    def work(worker: int) -> None:
        for k in range(6):
            store.update_experiment(target, {WORKER_FIELDS[worker]: f"t{worker}-{k}"})
            store.update_experiment(pool_ids[(worker + k) % 8], {"status": STATUSES[(worker * 7 + k) % 6]})
        try:
            store.update_experiment(target, {"status": "validating"}, expect_status=("proposed",))
            claims.append(worker)
        except ConflictError:
            pass

    with ThreadPoolExecutor(len(WORKER_FIELDS)) as pool:
        list(pool.map(work, range(len(WORKER_FIELDS))))
    record = store.get_experiment(target)
    assert {field: getattr(record, field) for field in WORKER_FIELDS} == {
        field: f"t{w}-5" for w, field in enumerate(WORKER_FIELDS)
    }  # no worker's last write was lost
    assert len(claims) == 1 and record.status == "validating"
    statuses = [store.get_experiment(i).status for i in [target, *pool_ids]]
    assert store.count_by_status() == {status: statuses.count(status) for status in STATUSES}


def test_concurrent_creates_of_one_id_make_one_experiment(store):
    record = make_experiment(1, parents=["exp-root"])
    with ThreadPoolExecutor(6) as pool:
        created = list(pool.map(lambda _: store.create_experiment(record), range(6)))
    assert created.count(True) == 1
    assert store.count_by_status()["proposed"] == 1 and len(store.children("exp-root")) == 1


def conflict_injector(client, times: int) -> list[int]:
    """Make the next `times` TransactWriteItems fail as DynamoDB does when transactions collide."""
    left = [times]

    def collide(**_):
        if left[0] == 0:
            return None
        left[0] -= 1
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return botocore.awsrequest.AWSResponse("https://dynamodb", 400, {}, None), error

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", collide)
    return left


def test_a_transaction_conflict_is_retried_and_endless_ones_give_up(store, dynamodb, monkeypatch):
    waits: list[int] = []
    monkeypatch.setattr(dynamo_module, "_backoff", waits.append)
    record = seed(store, [1])[0]
    left = conflict_injector(dynamodb, 3)
    assert store.update_experiment(record.id, {"status": "failed"}).status == "failed"
    assert left == [0] and waits == [0, 1, 2] and store.count_by_status()["failed"] == 1
    left[0] = 10**6
    with pytest.raises(ConflictError, match="concurrent writers"):
        store.update_experiment(record.id, {"status": "rejected"})
    assert len(waits) == 3 + dynamo_module._MAX_ATTEMPTS
    left[0] = 0
    assert store.get_experiment(record.id).status == "failed" and store.count_by_status()["rejected"] == 0


# --- limits and bad input -----------------------------------------------------------------------


def test_a_realistic_record_fits_and_an_oversized_one_is_refused_by_size(store, dynamodb):
    summary = ResultSummary(
        -4.2,
        3.5,
        None,
        {"bd_rate_x264_vmaf": "; ".join(f"clip{c}: no VMAF" for c in range(8))},
        {"bd_rate_x264_psnr_y": "; ".join(f"clip{c}: 3 points" for c in range(8))},
    )
    point = {
        "quality": 0.6,
        "kbps": 312.5,
        "psnr_y": 36.1,
        "ssim_y": 0.95,
        "vmaf": None,
        "encode_fps": 41.0,
        "decode_fps": 180.0,
    }
    realistic = Experiment.from_record(
        {
            **make_experiment(
                1,
                status="succeeded",
                score=-4.2,
                summary=Summaries(summary, summary),
                best_point=point,
                clip_scores={f"clip{c}": -1.0 * c for c in range(8)},
                hypothesis="h" * 600,
                attempts=[
                    {
                        "attempt": a,
                        "stage": "smoke",
                        "reason": "r" * 400,
                        "code_sha256": "c" * 64,
                        "hypothesis": "h" * 300,
                    }
                    for a in (1, 2)
                ],
                settings={
                    "qualities": [0.2, 0.5, 0.8],
                    "frames": 30,
                    "clips": {split: [f"clip{c}" for c in range(8)] for split in ("train", "validation")},
                },
            ).as_record(),
            "rd_signature": [[120.5, 33.25]] * 8,
        }
    )
    assert 3_000 < len(json.dumps(realistic.as_record())) < 20_000
    assert store.create_experiment(realistic) and store.get_experiment(realistic.id) == realistic

    with pytest.raises(ValueError, match=r"exp-contract-000002.* \d+ bytes .*409600"):
        store.create_experiment(make_experiment(2, settings={"blob": "é" * 210_000}))
    assert store.get_experiment(make_experiment(2).id) is None
    with pytest.raises(ValueError, match=r"\d+ bytes"):
        store.update_experiment(realistic.id, {"settings": {"blob": "x" * 420_000}})
    assert store.get_experiment(realistic.id) == realistic
    assert store.count_by_status()["succeeded"] == 1


def test_too_many_parents_for_one_transaction_is_refused(store):
    with pytest.raises(ValueError, match="transaction"):
        store.create_experiment(make_experiment(1, parents=[f"exp-p{n}" for n in range(120)]))
    assert store.get_experiment(make_experiment(1).id) is None


# --- schema -------------------------------------------------------------------------------------


def test_a_new_table_records_its_schema_version(store, dynamodb):
    assert store.schema_version() == SCHEMA_VERSION
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "SCHEMA"}, "sk": {"S": "SCHEMA"}})["Item"]
    assert item["version"] == {"N": str(SCHEMA_VERSION)}


def test_a_schema_1_table_is_upgraded_and_its_items_rank_as_the_unknown_benchmark(store, dynamodb):
    old = make_experiment(1, status="succeeded", score=-3.0).as_record()
    del old["benchmark"]
    store.create_experiment(Experiment.from_record(old))  # of the unknown benchmark: schema 1's partition "SCORE#train"
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"EXP#{old['id']}"}, "sk": {"S": "META"}})["Item"]
    assert item[BY_SCORE.partition_key] == {"S": "SCORE#train"}
    item["record"] = {"S": json.dumps(old)}  # the record as schema 1 wrote it, without a benchmark
    dynamodb.put_item(TableName=TABLE, Item=item)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "SCHEMA"}, "sk": {"S": "SCHEMA"}, "version": {"N": "1"}})
    reopened = DynamoExperimentStore(TABLE, client=dynamodb)
    assert reopened.schema_version() == SCHEMA_VERSION == 2
    assert [e.id for e in reopened.best_experiments(benchmark="unknown")] == [old["id"]]
    assert reopened.get_experiment(old["id"]) == Experiment.from_record(old)
    seed(reopened, [2], status="succeeded", score=-30.0)
    assert [e.id for e in reopened.best_experiments(benchmark="unknown")] == [old["id"]]
    assert [e.id for e in reopened.best_experiments(benchmark=BM)] == [make_experiment(2).id]


def test_a_newer_schema_and_a_missing_table_are_refused(dynamodb):
    dynamodb.put_item(
        TableName=TABLE, Item={"pk": {"S": "SCHEMA"}, "sk": {"S": "SCHEMA"}, "version": {"N": str(SCHEMA_VERSION + 1)}}
    )
    with pytest.raises(UsageError, match=f"version {SCHEMA_VERSION + 1} is newer .*version {SCHEMA_VERSION}"):
        DynamoExperimentStore(TABLE, client=dynamodb)
    with pytest.raises(UsageError, match="'no-such-table' does not exist"):
        DynamoExperimentStore("no-such-table", client=dynamodb)


# --- S3 -----------------------------------------------------------------------------------------


def test_presigned_url_shape(s3):
    artifacts = S3ArtifactStore(BUCKET, prefix="lab")
    key = "artifacts/exp-1/preview clip é.mp4"
    artifacts.put(key, b"mp4", content_type="video/mp4")
    url = urlsplit(artifacts.url(key, expires_s=600))
    query = parse_qs(url.query)
    assert url.scheme == "https" and BUCKET in url.netloc
    assert url.path.endswith("/lab/" + quote(key))
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["600"]
    assert len(query["X-Amz-Signature"][0]) == 64
    for bad in (0, -5, 8 * 24 * 3600, 1.5, True):
        with pytest.raises(ValueError, match="expires_s"):
            artifacts.url(key, expires_s=bad)


def test_objects_live_under_the_prefix_with_their_content_type(s3):
    S3ArtifactStore(BUCKET, prefix="/lab/v1/").put("code/abc.py", b"print(1)", content_type="text/x-python")
    head = s3.head_object(Bucket=BUCKET, Key="lab/v1/code/abc.py")
    assert head["ContentType"] == "text/x-python" and head["ContentLength"] == 8
    assert not S3ArtifactStore(BUCKET).exists("code/abc.py")


def test_a_bad_prefix_or_bucket_is_refused(s3):
    with pytest.raises(ValueError, match="'..'"):
        S3ArtifactStore(BUCKET, prefix="lab/../x")
    with pytest.raises(ValueError, match="bucket"):
        S3ArtifactStore("")
