"""The synthesis pipeline: docs → tasks → rollouts → backward construction → committee filter.

`generate` (tasks from documentation chunks), `rollout` (a policy acting in the environment, every step
recorded), `backward` (the instruction each span of a trajectory accomplishes; with no model, `hindsight`: what
a span did, read from the element it acted on, or the goal the environment rewarded, and the `reward` judge),
`judge` (the committee) with `grounding` (a judge that needs no model, reading what a span did through `effects`)
and `replay_judge` (a span must come out the same when re-run from its start state), `trust` (how far each judge
can be trusted: its measured precision and recall on the judge benchmark), `leakage` (what synthesis made and
read, compared with the held-out tasks; its text measures in `overlap`), and `pipeline` (`lbi synthesize`: every
stage on one project).
"""
