"""Generated schema validators (see tools/gen_schema_validators.py)."""
