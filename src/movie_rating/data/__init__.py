"""Raw data: ingest with provenance checks, the column schema, cleaning and the train/test split."""
