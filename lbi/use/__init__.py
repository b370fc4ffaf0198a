"""Using the data: the chromadb index (`index`), retrieval for in-context learning (`retrieval`,
the paper's Algorithm 2 and baselines), held-out evaluation (`evaluate`) and export for training (`export`)."""
