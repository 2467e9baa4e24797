"""The bundled page of ``walkshed serve`` (HTML, JavaScript, CSS), read as package data."""
