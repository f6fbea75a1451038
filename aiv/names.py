"""The names everything agrees on, in one import-free module: environment variables, state
documents and artifact keys.

The CDK stacks, the Lambdas, the GPU job, the runner and the stores all read these; the module
imports nothing, so importing it loads nothing else.
"""

# --- environment variables (set by the stacks, read by aiv/aws/environment.py) ---------------------
TABLE = "AIV_TABLE"
IDEMPOTENCY_TABLE = "AIV_IDEMPOTENCY_TABLE"
BUCKET = "AIV_BUCKET"
CLIPS_PREFIX = "AIV_CLIPS_PREFIX"
API_KEY_SECRET = "AIV_API_KEY_SECRET"
USE_BEDROCK = "AIV_USE_BEDROCK"
MODEL = "AIV_MODEL"
SETTINGS = "AIV_SETTINGS"
SCHEDULE_NAME = "AIV_SCHEDULE_NAME"
SCHEDULE_GROUP = "AIV_SCHEDULE_GROUP"
STATE_MACHINE_ARN = "AIV_STATE_MACHINE_ARN"
PROJECT = "AIV_PROJECT"  # the value of the `Project` cost-allocation tag
METRICS_NAMESPACE = "AiV1"
DEFAULT_CLIPS_PREFIX = "clips/"

# --- proposers a campaign can be asked for (besides "builtin" seeds and "rerun" experiments) -----
PROPOSERS = ("claude", "offline")

# --- state documents (ExperimentStore.get_state / put_state) ---------------------------------------
SCHEDULE_STATE = "schedule"  # {"enabled", "expression", "next_run_at", "updated_at"}, written on AWS
COSTS_STATE = "costs"  # month-to-date AWS costs by category, written on AWS
CAMPAIGN_STATE = "campaign"  # {"last_run", "last_run_at", "recent_runs": [run ids, newest first],
#                               "runs": [every run id, newest first]}
BEST_HISTORY_STATE = "best_history"  # {"points": [{"at", "experiment_id", "score", "score_validation"}]}, per benchmark
BENCHMARKS_STATE = (
    "benchmarks"  # {"current": id, "known": {id: {"definition", "first_at", "last_at"}}} (aiv/benchmark.py)
)
CORPUS_SECRET_STATE = "corpus_secret"  # {"hex"}: what the built-in clips show (aiv/video/corpus_secret.py)


def best_history_key(benchmark: str) -> str:
    """The state document of one benchmark's best-so-far history (the old unkeyed one is the unknown benchmark's)."""
    return BEST_HISTORY_STATE if benchmark == "unknown" else f"{BEST_HISTORY_STATE}:{benchmark}"


def run_state_key(run_id: str) -> str:
    """The state document of one run: its status, heartbeat and exact model spend."""
    return f"run:{run_id}"


# --- artifact keys ---------------------------------------------------------------------------------
RESULT_KEY_FORMAT = "results/{}.json"  # an experiment's evaluation outcome, by experiment id


def result_key(experiment_id: str) -> str:
    """The artifact key of an experiment's evaluation outcome (written by the evaluate step)."""
    return RESULT_KEY_FORMAT.format(experiment_id)


def code_key(code_sha256: str) -> str:
    """The artifact key of a module's source."""
    return f"code/{code_sha256}.py"


def reply_key(experiment_id: str, attempt: int) -> str:
    """The artifact key of the model's reply text for one attempt of an experiment (for its repair turn)."""
    return f"replies/{experiment_id}/{attempt}.txt"


def normalised_code_key(benchmark: str, normalised_sha256: str) -> str:
    """The artifact naming the experiment that first had this normalised code on `benchmark` (aiv/codec/fingerprint.py)."""
    return f"fingerprints/{benchmark}/code/{normalised_sha256}"


def cascade_bitstreams_key(benchmark: str, bitstreams_sha256: str) -> str:
    """The artifact naming the experiment that first wrote these bitstreams on `benchmark`'s cascade stage."""
    return f"fingerprints/{benchmark}/cascade/{bitstreams_sha256}"
