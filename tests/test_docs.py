"""The documentation names what exists: config keys and the API table."""
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_config_reference_lists_every_key():
    from protocols import heterogeneity_grid

    text = (ROOT / "docs" / "configs.md").read_text()
    missing = [f"{section}.{key}" for section, keys in heterogeneity_grid.SCHEMA.items()
               for key in keys if f"`{section}.{key}`" not in text]
    assert not missing, f"docs/configs.md lacks {missing}"


def test_readme_api_table_names_exist():
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## API"):text.index("## Speed")]
    names = set(re.findall(r"`(analysis\.\w+\.\w+)", table))
    assert len(names) >= 15
    for name in sorted(names):
        module, attribute = name.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), attribute), name


def test_readme_leads_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
