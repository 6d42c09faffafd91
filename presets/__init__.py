"""Song, session and preset files: versioned schemas, validation with exact places, atomic load/save."""
