"""Voice activity detection ports."""
