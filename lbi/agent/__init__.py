"""The agent: policies that choose actions (`policies`: llm, explore)."""
