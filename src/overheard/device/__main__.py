"""``python -m overheard.device``: the device command on its own."""

from overheard.device.cli import device_app

device_app(prog_name="overheard device")
