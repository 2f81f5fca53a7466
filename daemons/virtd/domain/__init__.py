"""Domain definitions: the typed model (definition), XML in and out (xml), safe names (names)."""
