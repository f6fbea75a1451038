"""The experiment lifecycle's steps, as thin functions over JSON-serialisable events.

    propose -> validate -> evaluate -> record          any failure -> mark_failed
       ^          |            |           |
       +----------+------------+-----------+  a rejection returns to propose with the reason (aiv/candidate_loop.py)

Each step takes the event a Lambda or Batch job would receive (the shapes are in `events`) and a
`Lab` (`lab`: the stores, the settings, the proposers) and returns the next event. The local
runner (aiv/runner.py) calls them in the state machine's order; on AWS each is a state. Every step
is safe to retry: a repeated record or mark_failed changes nothing.

    seeding      seed: a built-in codec enters the archive
    importing    a researcher's own codec enters the archive as a seed (`aiv import`, the admin import)
    proposing    propose (and a rerun of archived code)
    validation   validate: the static gate (policy, identical or normalised-identical code), light enough for a Lambda
    duplicates   which experiment first had a code or bitstream fingerprint (the duplicate rules)
    recording    record, mark_failed, the rejection bookkeeping and the best-score history
    costs        the cost arithmetic on an experiment's "cost"
    aiv/cascade.py  evaluate: the smoke run and the cascade (duplicates and early stop after its first
                    stage), where codecs can run (numpy, PyAV)

This package imports none of its modules: import the one you need.
"""
