"""The documentation names what exists: config keys and the API table."""
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_config_reference_is_current():
    """docs/configs.md holds the tables protocols.config.schema_table makes today."""
    from protocols import (ei_rnn, fitting_activity, heterogeneity_grid, homeostatic_training,
                           plasticity)
    from protocols.config import schema_table

    text = (ROOT / "docs" / "configs.md").read_text()
    for schema in (heterogeneity_grid.SCHEMA, plasticity.SCHEMA, ei_rnn.SCHEMA,
                   homeostatic_training.SCHEMA, fitting_activity.SCHEMA):
        assert schema_table(schema) in text, "regenerate the table in docs/configs.md"


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
