"""Running lbi's work on a Ray cluster (`synth.executor = "ray"`, `--ray [ADDRESS]`): an engine below the stages.

`session` connects the driver to a cluster; `shipping` sends workers the config and the env's files; `relay`
turns a worker's store writes into records the driver replays (the driver stays the store's only writer);
`episodes` runs episodes in actors that each hold one environment, each played by the function its caller gives
(a rollout's from `lbi.synth.rollout`, an evaluation's from `lbi.use.evaluate_ray`); `calls` runs
backward-construction and judge calls as Ray tasks, a limited number in flight per model; `auth` switches on Ray's token
authentication when a token exists, here, before any of these modules imports Ray.

It imports neither `lbi.synth` nor `lbi.use`: they call it, passing what it runs.
"""

from lbi.cluster.auth import enable_token_auth

enable_token_auth()
