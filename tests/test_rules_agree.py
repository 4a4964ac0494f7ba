"""Rules that two tools must hold alike, where they cannot read one file: pinned together here."""

import csv

from orchestration.lib.contract import SOURCES
from tests.helpers import DBT_DIR


def test_staging_enum_seed_lists_exactly_the_contract_enums():
    """dbt maps unknown enum values to 'other' from seed staging_enum_values; ingestion records them as field issues
    from the contract. Both must know the same values, or a value would be 'other' in one and fine in the other."""
    with (DBT_DIR / "seeds" / "staging" / "staging_enum_values.csv").open(newline="", encoding="utf-8") as handle:
        seed = {(row["source"], row["column_name"], row["value"]) for row in csv.DictReader(handle)}
    contract = {(source.name, column, value)
                for source in SOURCES.values() for column, values in source.enums.items() for value in values}
    assert seed == contract, {"only in the seed": sorted(seed - contract), "only in the contract": sorted(contract - seed)}
