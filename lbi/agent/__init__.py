"""The agent: the loop (`loop`: `Agent`, the `Policy` protocol, how an episode ends), the policies that choose
actions (`policies`: llm, explore) and the recorder that writes episodes to the store (`recorder`)."""

from lbi.agent.loop import (
    Agent,
    AgentStop,
    Decision,
    Episode,
    History,
    Policy,
    Recorder,
    StepLimitReached,
    Submitted,
)

__all__ = [
    "Agent",
    "AgentStop",
    "Decision",
    "Episode",
    "History",
    "Policy",
    "Recorder",
    "StepLimitReached",
    "Submitted",
]
