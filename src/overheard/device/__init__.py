"""The reference device: local wake word, VAD endpointing, encrypted offline queue, upload.

Nothing leaves the device without a local wake-word detection; audio waiting for the network is
sealed on disk under a device key; deletions the server reports clear the local queue too.
"""
