"""Models: the one seam every model call goes through, and the kinds of model behind it.

- `llm`: `LLM`, the wrapper (role → model string, cache, parse and transient retries, usage log, failures);
- `base`: the `Model` protocol and `Completion`; `registry`: model string → class;
- `litellm_model`: any provider litellm knows; `local`: the embedded model, whose llama.cpp server
  `local_llm` starts, health-checks and stops; `fake`: the deterministic test model;
- `schema`: the JSON-schema walker, prompt skeleton and reply parsing; `embed`: sentence embeddings;
- `llama_serve`: the embedded model's server process (llama.cpp's thread count picked before every decode);
- `trained`: where a trained model lives in a project and how it becomes `local/NAME`; `convert`: a merged
  Hugging Face model → one GGUF file.
"""

import os

# before anything here imports litellm: otherwise it fetches its price list from the network at import
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
