"""The AWS Batch job that evaluates one experiment on a GPU instance: `python -m gpu_runner.entry`."""
