"""The dashboard: server-rendered HTML from the stores, one handler for `aiv serve` and the Lambda.

`app.Dashboard(experiments, artifacts).handle(Request) -> Response` is the whole web surface;
`views` computes each page's data with bounded store queries, `charts` builds the Plotly figures,
`server` is the local HTTP server (and the artifact route with Range support), `previews` makes
the browser-playable H.264 previews the pipeline stores.
"""
