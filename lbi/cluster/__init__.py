"""Running lbi's work on a Ray cluster (`synth.executor = "ray"`, `--ray [ADDRESS]`).

`session` connects the driver to a cluster; `shipping` sends workers the config and the env's files; `relay`
turns a worker's store writes into records the driver replays (the driver stays the store's only writer);
`episodes` runs rollout and evaluation episodes in actors that each hold one environment; `evaluation` plays
held-out tasks there, their retrieval answered by an actor on the driver's node; `calls` runs
backward-construction and judge calls as Ray tasks, a limited number in flight per model; `auth` switches on
Ray's token authentication when a token exists, here, before any of these modules imports Ray.
"""

from lbi.cluster.auth import enable_token_auth

enable_token_auth()
