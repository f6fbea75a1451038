"""The codec search: the archive and parent selection, proposers (Claude, offline), their prompts
and edits, and token pricing.

`proposer` holds the types every proposer shares (ProposalContext in, Proposal out, ProposalError
when no usable module came back); `claude` is the proposer that asks Claude through the anthropic
SDK (its client built by `claude_client`), `offline` mutates the `hybrid` codec's PARAMS without a
model, `prompts` builds what Claude is asked, `edits` applies SEARCH/REPLACE replies, `archive` chooses parents and gathers what a proposer
is shown, `factory` makes proposers by name, and `pricing` keeps the price of each model's tokens in one place.
"""
