"""lbi: turn an environment's documentation into LLM-agent training data (Learn-by-interact).

Packages by stage: `docs` (load documentation), `envs` (the environments), `agent` (the agent loop),
`synth` (task generation, rollouts, backward construction, the committee), `use` (retrieval, evaluation,
export), `train` (fine-tuning), `curate` (review queues, bulk decisions, clusters of instructions), `models` (the
model seam), `store` (the SQLite store), `cluster` (Ray), `prompts` (what is said to models), `demos` (the bundled
demos) and `cli` (the command line). Flat modules:
`config`, `errors`, `jobs`, `observations`, `paths`, `procs`, `project`, `secrets`, `ui` (the pages' helpers),
`curation_ui` (the panels of the Review and Clusters pages), `steps_ui` (a step, a trajectory, a span and the span
grid) and `verdicts_ui` (an example's verdicts with each judge's trust, and its leak flag: the Committee and Review
pages).

Layers, bottom to top. A module imports only from its own layer or a lower one, lazily inside a function too,
and never in a circle (`tests/test_layers.py` holds this list to the code); where a lower layer needs a higher
one's behaviour, the higher one passes a function:

1. errors, paths, procs, secrets, observations
2. config
3. store
4. models
5. envs
6. prompts
7. project
8. docs
9. agent
10. cluster
11. synth
12. use, train, curate
13. demos
14. cli, jobs, ui, curation_ui, steps_ui, verdicts_ui
"""

__version__ = "0.1.0"
