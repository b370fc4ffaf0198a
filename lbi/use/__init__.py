"""Using the data: the chromadb index (`index`), retrieval for in-context learning (`retrieval`, the paper's
Algorithm 2 and baselines), held-out evaluation (`evaluate`: one episode in `eval_episode`, on Ray in
`evaluate_ray`), arms compared across runs (`arms`) and their figures for the Evaluation page (`figures`), and
export for training (`export`, its formats in `export_formats`; SWE-bench prediction lines in `swebench`)."""
