from pathlib import Path

import pytest

from lbi.config import Config, ConfigError, dump_config, load_config, save_config


def test_defaults_use_the_embedded_model_for_every_role() -> None:
    config = Config()
    assert config.models.default == "local/smollm2"
    assert config.models.for_role("agent") == "local/smollm2"
    config.models.backward = "openai/gpt-4o-mini"
    assert config.models.for_role("backward") == "openai/gpt-4o-mini"
    assert config.models.for_role("task_generator") == "local/smollm2"


def test_every_field_is_documented() -> None:
    from pydantic import BaseModel

    def walk(model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation)
                continue
            assert field.description, f"{model.__name__}.{name} has no docstring"

    walk(Config)


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    config = Config(project="round trip")
    config.models.judges[0].model = "anthropic/claude-3-5-haiku-latest"
    config.env.options = {"start_url": "/wiki", "max": 3}
    config.synth.max_steps = 12
    save_config(tmp_path, config)
    text = (tmp_path / "lbi.toml").read_text()
    assert "# Step limit of one rollout." in text
    loaded = load_config(tmp_path)
    assert loaded.model_dump() == config.model_dump()
    assert (loaded.project_dir, config.project_dir) == (tmp_path.resolve(), None)  # where local/NAME is found
    assert dump_config(loaded) == text


def test_missing_config_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lbi init"):
        load_config(tmp_path)


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "lbi.toml").write_text("[models\ndefault = ")
    with pytest.raises(ConfigError, match=r"lbi\.toml is not valid TOML"):
        load_config(tmp_path)


def test_invalid_field_is_named(tmp_path: Path) -> None:
    (tmp_path / "lbi.toml").write_text('[synth]\nmax_steps = "many"\nmystery = 1\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "synth.max_steps" in str(info.value)
    assert "synth.mystery" in str(info.value)
