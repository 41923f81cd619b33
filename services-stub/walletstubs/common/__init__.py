"""Building blocks shared by every stub service: settings, errors, money, database, cache, telemetry."""
