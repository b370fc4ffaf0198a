"""Fine-tuning on the kept examples (`lbi train`): the records (`data`), the base model (`base`), the SFT run
(`sft`). The trained model is served through the embedded model's seam as `local/<run name>`."""
