"""Running lbi's work on a Ray cluster (`synth.executor = "ray"`, `--ray [ADDRESS]`).

`session` connects the driver to a cluster; `shipping` sends workers the config and the env's files; `relay`
turns a worker's store writes into records the driver replays (the driver stays the store's only writer);
`episodes` runs rollout and evaluation episodes in actors that each hold one environment; `calls` runs
backward-construction and judge calls as Ray tasks, a limited number in flight per model.
"""
