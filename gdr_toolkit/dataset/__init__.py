"""Raw dataset layout, scanner metadata, contrast-agent table, image I/O and integrity checks."""
