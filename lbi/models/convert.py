"""A merged Hugging Face model directory → one GGUF file the embedded llama.cpp server can serve.

Both steps are llama.cpp's own. `convert_hf_to_gguf.py` writes the model at its own precision (f16 for f32
weights, bf16 for bf16): `make setup` extracts it, with its `conversion` package and the `gguf-py` it was
written with, from the sdist of the installed llama-cpp-python into `<venv>/share/llama.cpp/` (PyPI's `gguf`
0.19 lacks what the script needs; the script puts its own gguf-py first on its path). Then the bindings'
`llama_model_quantize` quantizes it, to `SERVE_QUANT` (Q8_0) unless told otherwise; like llama.cpp's
`llama-quantize`, it gives a wider type to the tensors whose rows do not divide into the type's blocks.
The result is written beside the target under a temporary name and renamed, so a reader never sees half a file.

Why Q8_0 and not the bundled SmolLM2's Q4_1: 4-bit quantization of a merged LoRA model of this size erases what
training changed (measured on this machine: SmolLM2-135M trained on 4 scripted episodes, served at Q4_1,
answered its training prompts word for word like the untrained base; at Q8_0 mostly as the merged model
did, like F16 at about half its size; `bench/trained_precision.py` makes that table). So a base vs trained
comparison serves the base at the same precision too (`lbi.train.base.publish_base`, `local/base-q8_0`), not the
bundled Q4_1 file.
"""

from __future__ import annotations

import ctypes
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lbi.errors import UserError, check_choice

CONVERTER_DIR = Path(sys.prefix) / "share" / "llama.cpp"
"""Where `make setup` puts llama.cpp's `convert_hf_to_gguf.py` (with `conversion/` and `gguf-py/`)."""
BUNDLED_QUANT = "Q4_1"
"""The precision of the bundled SmolLM2 GGUF (`local/smollm2`)."""
SERVE_QUANT = "Q8_0"
"""The precision trained models (and the base they are compared with) are served at: Q4_1 erases a LoRA change."""
FTYPE_PREFIX = "LLAMA_FTYPE_MOSTLY_"


class ConversionError(UserError):
    """A Hugging Face model directory could not be turned into a GGUF file; the message names it and what to do."""


def converter_script() -> Path:
    """llama.cpp's `convert_hf_to_gguf.py` as `make setup` extracted it."""
    script = CONVERTER_DIR / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise ConversionError(
            f"llama.cpp's converter {script} is missing: run `make setup` (it extracts the "
            "script from the installed llama-cpp-python's source package)."
        )
    return script


def _ftypes() -> dict[str, int]:
    """llama.cpp's file types by quantization name (`Q4_1`, `Q8_0`, `F16`, ...)."""
    import llama_cpp

    return {
        name.removeprefix(FTYPE_PREFIX): getattr(llama_cpp, name)
        for name in dir(llama_cpp)
        if name.startswith(FTYPE_PREFIX)
    }


def check_quant(quant: str) -> str:
    """The quantization name, upper-cased, or `UnknownChoiceError` listing llama.cpp's (before any long work)."""
    return check_choice("quantization", quant.upper(), sorted(_ftypes()))


def ftype(quant: str) -> int:
    """llama.cpp's file type for a quantization name (`Q4_1`, `Q8_0`, `F16`, ...)."""
    return _ftypes()[check_quant(quant)]


def file_quant(gguf: Path) -> str:
    """The quantization a GGUF file says it holds (its `general.file_type`), e.g. `Q8_0`."""
    from gguf import GGUFReader

    field = GGUFReader(str(gguf)).fields.get("general.file_type")
    if field is None:
        raise ConversionError(f"{gguf} does not say its file type (no general.file_type): convert it again")
    kind = int(field.parts[field.data[0]][0])
    names = [name for name, value in _ftypes().items() if value == kind]
    return names[0] if names else str(kind)


def to_gguf(hf_dir: Path, out_gguf: Path, quant: str = SERVE_QUANT) -> Path:
    """Convert the Hugging Face model in `hf_dir` to `out_gguf`, quantized to `quant`; returns `out_gguf`."""
    hf_dir, out_gguf = Path(hf_dir), Path(out_gguf)
    if not (hf_dir / "config.json").is_file():
        raise ConversionError(
            f"{hf_dir} is not a Hugging Face model directory (no config.json): give the merged "
            "model's folder (config.json, model.safetensors, tokenizer files), e.g. run `lbi train` "
            "again to write it."
        )
    kind = ftype(quant)
    script = converter_script()
    out_gguf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_gguf.parent, prefix=f".{out_gguf.name}.") as tmp:
        full, quantized = Path(tmp) / "full.gguf", Path(tmp) / "quantized.gguf"
        _convert(script, hf_dir, full)
        _quantize(full, quantized, kind, quant)
        os.replace(quantized, out_gguf)
    return out_gguf


def _convert(script: Path, hf_dir: Path, out: Path) -> None:
    """Run llama.cpp's converter with this venv's python (offline: it must not reach a model hub)."""
    env = {key: value for key, value in os.environ.items() if key != "NO_LOCAL_GGUF"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, str(script), str(hf_dir), "--outfile", str(out), "--outtype", "auto"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=env,
        check=False,
    )
    if done.returncode != 0 or not out.is_file():
        tail = "\n".join(done.stdout.splitlines()[-12:])
        raise ConversionError(
            f"converting {hf_dir} to GGUF failed ({script.name} exited with {done.returncode}); "
            f"check that it holds a complete merged model (config.json, model.safetensors, "
            f"tokenizer files), e.g. run `lbi train` again:\n{tail}"
        )


def _quantize(source: Path, out: Path, kind: int, quant: str) -> None:
    import llama_cpp

    from lbi.models.local_llm import auto_threads

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = kind
    params.nthread = auto_threads()
    with _quiet_llama_cpp():
        failed = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), ctypes.byref(params))
    if failed or not out.is_file():
        raise ConversionError(
            f"quantizing {source.name} to {quant} failed (llama_model_quantize returned {failed}): "
            "try another quantization (e.g. Q8_0 or F16)."
        )


@contextmanager
def _quiet_llama_cpp() -> Iterator[None]:
    """llama.cpp logs every tensor it quantizes; keep only its errors."""
    logger = logging.getLogger("llama-cpp-python")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
