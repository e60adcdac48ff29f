"""``overheard device``: run the reference device, or many simulated ones.

Thin: parse, build the parts, run, print. Mounted by the main CLI as ``overheard device``; also
runnable alone as ``python -m overheard.device``.
"""

from __future__ import annotations

import contextlib
import random
import signal
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from overheard.device import frames as framesrc
from overheard.device.detector import MAX_UTTERANCE_S, Detector, DetectorConfig
from overheard.device.enrol import enrol_device, enrol_households, write_secret
from overheard.device.mute import MuteSwitch, install_signal, key_reader
from overheard.device.queue import MAX_ITEMS
from overheard.device.run import Device, DeviceFiles
from overheard.device.simulate import ANSWER, SimReport, load_clip, load_clips, simulate
from overheard.device.state import StateLine
from overheard.device.voice import Voice
from overheard.speech.wake import DEFAULT_WAKE_THRESHOLD

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_TOKEN_FILE = Path("var/device/token")
DEFAULT_DATA_DIR = Path("var")
"""The data directory of ``make run``; a device without a token enrols there when it exists."""
DRAIN_S = 30.0
"""Seconds to wait at the end of file input for deliveries and deletion news."""

device_app = typer.Typer(
    help="The reference device: wake word on this machine, then upload (or simulate many).",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

Server = Annotated[str, typer.Option("--server", help="Base URL of the Overheard server.")]


@device_app.callback(invoke_without_command=True)
def device(
    ctx: typer.Context,
    server: Server = DEFAULT_SERVER,
    token_file: Annotated[Path, typer.Option(
        "--token-file", help="File holding the device token; the device key and the sealed "
        "queue are kept beside it.")] = DEFAULT_TOKEN_FILE,
    input_path: Annotated[str | None, typer.Option(
        "--input", help="Audio FILE, a DIR of files (recursive), or - for 16 kHz mono s16le/WAV "
        "on stdin. Default: the microphone.")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Server data dir to enrol this device in when the token file is "
        "missing (default: ./var if it exists).")] = None,
    realtime: Annotated[bool, typer.Option(
        "--realtime/--fast", help="Play files at the speed of speech, or as fast as possible.")] = False,
    threshold: Annotated[float, typer.Option(help="Wake-word score that starts a recording.")] = DEFAULT_WAKE_THRESHOLD,
    max_utterance_s: Annotated[float, typer.Option(help="Longest recording, seconds.")] = MAX_UTTERANCE_S,
    max_queue: Annotated[int, typer.Option(help="Most recordings kept while offline.")] = MAX_ITEMS,
    drain_s: Annotated[float, typer.Option(
        help="After file input ends, seconds to wait for deliveries and deletions.")] = DRAIN_S,
    mic: Annotated[str | None, typer.Option(help="PortAudio input device (index or name).")] = None,
    muted: Annotated[bool, typer.Option("--muted", help="Start muted.")] = False,
    speak: Annotated[bool, typer.Option(
        "--speak/--no-speak", help="Speak the server's questions with espeak-ng (they are always "
        "printed).")] = True,
    say_dir: Annotated[Path | None, typer.Option(
        "--say-dir", help="Also keep every spoken question as a WAV file in this folder.")] = None,
) -> None:
    """Listen (microphone or --input), detect the wake word locally, upload what follows."""
    if ctx.invoked_subcommand is not None:
        return
    files = DeviceFiles(token_file)
    _ensure_token(files, data_dir)
    config = DetectorConfig(wake_threshold=threshold, max_utterance_s=max_utterance_s)
    switch = MuteSwitch(muted)
    line = StateLine()
    voice = Voice(line.say, keep_dir=say_dir) if speak else None
    dev = Device.open(server, files, detector=Detector(config), line=line, switch=switch,
                      voice=voice, max_queue_items=max_queue)
    with _mute_controls(switch, uses_stdin=input_path == "-") as keys:
        line.say(f"device ready → {server}; " + ("press m to mute" if keys else
                 f"kill -USR1 {_pid()} to mute"))
        line.update(muted=muted, queued=len(dev.queue))
        dev.uploader.start()
        try:
            dev.run(_frames(input_path, switch, realtime, line))
            if not dev.drain(drain_s):
                line.say(f"stopped waiting after {drain_s:g} s: {len(dev.queue)} still queued "
                         f"(sealed on disk, sent on the next run), {dev.uploader.watching} "
                         "sent recording(s) not yet processed by the server")
        except KeyboardInterrupt:
            line.say(f"stopped; {len(dev.queue)} queued for the next run")
        finally:
            dev.uploader.stop()
            dev.uploader.client.close()
            line.close()
    _summary(dev)


def _pid() -> int:
    import os

    return os.getpid()


def _ensure_token(files: DeviceFiles, data_dir: Path | None) -> None:
    if files.token_file.exists():
        return
    where = data_dir or (DEFAULT_DATA_DIR if (DEFAULT_DATA_DIR / "kek.json").exists() else None)
    if where is None:
        console.print(f"[red]error:[/red] no token file at {files.token_file}; give --token-file "
                      "(from `overheard households add`) or --data-dir of a local server")
        raise typer.Exit(2)
    serial = f"REF-{random.randrange(16**6):06X}"  # noqa: S311 (a label, not a secret)
    household, token = enrol_device(where, serial)
    write_secret(files.token_file, token + "\n")
    console.print(f"enrolled device {serial} in household {household}; token in {files.token_file}")


@contextlib.contextmanager
def _mute_controls(switch: MuteSwitch, *, uses_stdin: bool) -> Iterator[bool]:
    install_signal(switch)
    try:
        if uses_stdin:
            yield False
        else:
            with key_reader(switch) as keys:
                yield keys
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)


def _frames(
    input_path: str | None, switch: MuteSwitch, realtime: bool, line: StateLine
) -> Iterable[np.ndarray]:
    if input_path is None:
        line.say("listening on the microphone")
        return framesrc.microphone_frames(
            framesrc.open_portaudio, switch, on_overflow=lambda: line.say("input overflow")
        )
    if input_path == "-":
        return framesrc.stream_frames(sys.stdin.buffer)
    paths = framesrc.audio_files(Path(input_path))
    frames = framesrc.file_frames(paths, on_file=lambda p: line.say(f"playing {p.name}"))
    return framesrc.paced(frames) if realtime else frames


def _summary(dev: Device) -> None:
    tally = dev.uploader.tally
    typer.echo(
        f"recorded {len(dev.utterances)}; sent {tally.sent}; already there {tally.replayed}; "
        f"refused {tally.refused}; dropped {tally.dropped}; cleared by deletions "
        f"{tally.deleted_here}; queued {len(dev.queue)}; questions {len(tally.prompts)}; "
        f"answers {len(dev.answers)}"
    )


@device_app.command("simulate")
def simulate_command(
    clips: Annotated[list[Path], typer.Option(
        "--clips", help="Clip folder (repeatable); include folders without the wake word.")],
    server: Server = DEFAULT_SERVER,
    households: Annotated[int, typer.Option(help="Simulated devices, one household each.")] = 3,
    rate: Annotated[float, typer.Option(help="Clips per second per device (Poisson).")] = 0.2,
    duration: Annotated[float, typer.Option(help="Seconds of simulated (real) time.")] = 30.0,
    tokens_file: Annotated[Path | None, typer.Option(
        help="Device tokens, one per line (the first N are used).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Server data dir: enrol the households missing from --tokens-file there.")] = None,
    save_tokens: Annotated[Path | None, typer.Option(
        help="Write the tokens used (0600), to reuse with --tokens-file.")] = None,
    per_folder: Annotated[int | None, typer.Option(help="Clips sampled per folder.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of arrivals and clip choice.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="Only the summary.")] = False,
    prompts: Annotated[bool, typer.Option(
        "--prompts/--no-prompts", help="Watch each sent clip's status for the server's questions "
        "and print them (--no-prompts: pure load).")] = True,
    answer: Annotated[Path | None, typer.Option(
        "--answer", help="Audio file a device plays, without the wake word, to answer a question "
        "(e.g. a recorded \"yes please\"); implies --prompts.")] = None,
) -> None:
    """Drive many simulated devices against a server from folders of clips; print the outcome."""
    tokens = _tokens(households, tokens_file, data_dir)
    if save_tokens is not None:
        write_secret(save_tokens, "".join(t + "\n" for t in tokens))
    rng = random.Random(seed)  # noqa: S311 (not security)
    loaded = load_clips(clips, per_folder, rng)
    console.print(f"{len(tokens)} devices, {len(loaded)} clips, {rate:g} clips/s each, {duration:g} s")
    say = (lambda message: None) if quiet else (lambda message: console.print(message))
    scripted = None if answer is None else load_clip(answer, ANSWER)
    report = simulate(server, tokens, loaded, rate_per_s=rate, duration_s=duration, seed=seed,
                      say=say, follow_prompts=prompts or scripted is not None, answer=scripted)
    Console(width=160).print(report_table(report))
    typer.echo(report_line(report))


def _tokens(count: int, tokens_file: Path | None, data_dir: Path | None) -> list[str]:
    given = [] if tokens_file is None else [
        line.strip() for line in tokens_file.read_text().splitlines() if line.strip()
    ]
    tokens = given[:count]
    if len(tokens) < count:
        if data_dir is None:
            console.print(f"[red]error:[/red] {count} households need {count} tokens; "
                          f"{len(tokens)} given. Add --data-dir to enrol the rest.")
            raise typer.Exit(2)
        tokens += enrol_households(data_dir, count - len(tokens))
    return tokens


def report_table(report: SimReport) -> Table:
    """The per-folder outcome as a table."""
    table = Table("clips from", "played", "wake word heard", "not sent", "sent", "already there",
                  "refused", "failed", title=f"{report.devices} devices, {report.duration_s:g} s")
    for label, tally in sorted(report.labels.items()):
        refused = ", ".join(f"{code} {n}" for code, n in tally.refused.items()) or "0"
        table.add_row(label, str(tally.played), str(tally.detected),
                      str(max(0, tally.played - tally.detected)), str(tally.sent),
                      str(tally.replayed), refused, str(tally.failed))
    return table


def report_line(report: SimReport) -> str:
    """CPU and latency figures in one line."""
    per_frame_ms = 1000 * report.busy_s / report.frames if report.frames else 0.0
    return (
        f"frames {report.frames}; wake+VAD {per_frame_ms:.2f} ms/frame "
        f"(real-time factor {per_frame_ms / 80:.3f}); worst lag {report.max_lag_s:.2f} s; "
        f"upload latency p50 {report.latency_s(0.5) * 1000:.0f} ms, "
        f"p95 {report.latency_s(0.95) * 1000:.0f} ms; questions heard {len(report.prompts)}"
    )
