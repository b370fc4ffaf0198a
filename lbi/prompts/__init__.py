"""What lbi says to models and what it asks them to reply, kept apart so both can be read and tuned:

* `messages`: the message builders: the agent's turn, the explore policy's field text, task generation,
  backward construction (per span and batched), the committee's judges, the retrieval query, and the
  observation-length rule they share;
* `replies`: the reply contracts: the reply schemas, the grammar patterns and sentence rules given to a
  constrained decoder, and the readers of replies cut short.
"""
