"""Speech-to-speech ports (enhancement, conversion): `model.enhance(audio) -> AudioResult`."""
