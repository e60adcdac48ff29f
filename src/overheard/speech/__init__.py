"""Speech: audio decoding, wake word, voice activity, recognition, intents."""
