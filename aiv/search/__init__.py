"""The codec search: proposers (Claude, offline), their prompts and edits, and token pricing.

`proposer` holds the types every proposer shares (ProposalContext in, Proposal out, ProposalError
when no usable module came back); `claude` is the proposer that asks Claude through the anthropic
SDK, `prompts` builds what it is asked, `edits` applies SEARCH/REPLACE replies, and `pricing`
keeps the price of each model's tokens in one place.
"""
