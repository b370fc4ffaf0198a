"""Models: the one seam every model call goes through (`llm.LLM`: cache, retries, usage log), the
embedded llama.cpp server (`local_llm`), the deterministic test model (`fake_llm`) and sentence
embeddings (`embed`)."""
