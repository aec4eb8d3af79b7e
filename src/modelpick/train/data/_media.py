"""Decoding one image (Pillow) or one WAV file (soundfile, soxr), and the log-mel spectrogram
(numpy only)."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np

from ...errors import DataError
from ._io import need, read_bytes

IMAGE_EXTS = (".png", ".jpg", ".jpeg")
WAV_EXTS = (".wav",)
MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_WAV_FORMATS = {"WAV", "WAVEX", "RF64", "W64"}
LOG_FLOOR = 1e-10


def image_mode(channels: int, shown: str) -> str:
    mode = MODES.get(channels)
    if mode is None:
        raise DataError(
            f"{shown}: images give 1 (grey), 3 (RGB) or 4 (RGBA) channels; the profile's "
            f"input.channels is {channels}"
        )
    return mode


def decode_image(real: Path, shown: str, mode: str, height: int, width: int):
    """(C, H, W) float32 in [0, 1], and whether the image had another size (then resized,
    bilinear)."""
    Image = need("PIL.Image", "reading images")
    data = read_bytes(real, shown, "an image file")
    try:
        with warnings.catch_warnings():
            # Pillow's warnings (corrupt EXIF, palette transparency) are not the user's concern
            # and would break the one-line output; a decompression bomb is an error
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format not in ("PNG", "JPEG"):
                raise DataError(
                    f"{shown}: not a PNG or JPEG image (Pillow reads it as {im.format})"
                )
            im.load()
            if im.mode.startswith("I"):
                # a 16-bit grey PNG (I;16, or I): Pillow's convert() clips it at 255, which
                # would make nearly every pixel white; scale 0..65535 to 0..255 first
                wide = np.asarray(im, dtype=np.float64)
                im = Image.fromarray(np.rint(np.clip(wide, 0, 65535) / 257.0).astype(np.uint8))
            if im.mode != mode:
                im = im.convert(mode)
            resized = im.size != (width, height)
            if resized:
                im = im.resize((width, height), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.float32)
    except DataError:
        raise
    except Exception:  # Pillow raises many kinds on a corrupt file; all mean the same here
        raise DataError(f"{shown}: not an image Pillow can read") from None
    a = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
    return a / np.float32(255), resized


def wav_info(real: Path, shown: str) -> tuple[int, int]:
    """(frames, sample rate) from the header only."""
    sf = need("soundfile", "reading WAV files")
    from ._io import open_file

    with open_file(real, shown, "a WAV file") as f:
        try:
            with sf.SoundFile(f) as snd:
                if snd.format not in _WAV_FORMATS:
                    raise DataError(f"{shown}: not a WAV file (soundfile reads it as {snd.format})")
                return snd.frames, snd.samplerate
        except DataError:
            raise
        except Exception:
            raise DataError(f"{shown}: not a WAV file soundfile can read") from None


def decode_wav(real: Path, shown: str, rate: int) -> np.ndarray:
    """A mono float32 waveform at `rate` (channels averaged; resampled with soxr)."""
    sf = need("soundfile", "reading WAV files")
    data = read_bytes(real, shown, "a WAV file")
    try:
        with sf.SoundFile(io.BytesIO(data)) as snd:
            if snd.format not in _WAV_FORMATS:
                raise DataError(f"{shown}: not a WAV file (soundfile reads it as {snd.format})")
            native = snd.samplerate
            x = snd.read(dtype="float32", always_2d=True)
    except DataError:
        raise
    except Exception:
        raise DataError(f"{shown}: not a WAV file soundfile can read") from None
    if not x.size:
        raise DataError(f"{shown}: the WAV file has no samples")
    x = x.mean(axis=1, dtype=np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{shown}: the WAV file has NaN or infinite samples")
    if native != rate:
        soxr = need("soxr", "resampling audio")
        x = np.asarray(soxr.resample(x, native, rate), dtype=np.float32)
    return x


def fit_length(x: np.ndarray, samples: int) -> tuple[np.ndarray, int]:
    """Pad with zeros at the end or cut the end: (waveform, -1 padded / 0 / 1 cut)."""
    if len(x) == samples:
        return x, 0
    if len(x) > samples:
        return x[:samples], 1
    return np.pad(x, (0, samples - len(x))), -1


def stft_params(samples: int, frames: int, mel_bins: int) -> tuple[int, int]:
    """(n_fft, hop): hop = ceil(samples / frames), so that `frames` frames cover the clip;
    n_fft = the Hann window = the smallest power of two ≥ max(2·hop, 2·mel_bins, 16)."""
    hop = max(1, math.ceil(samples / frames))
    n_fft = 1 << max(4, math.ceil(math.log2(max(2 * hop, 2 * mel_bins))))
    return n_fft, hop


def mel_filterbank(rate: int, n_fft: int, mel_bins: int) -> np.ndarray:
    """(mel_bins, n_fft // 2 + 1) triangular filters, equally spaced on the HTK mel scale
    (2595·log10(1 + f/700)) from 0 Hz to rate/2, peak 1, not area-normalised."""

    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    pts = hz(np.linspace(0.0, mel(rate / 2.0), mel_bins + 2))
    freqs = np.linspace(0.0, rate / 2.0, n_fft // 2 + 1)
    lower = (freqs[None, :] - pts[:-2, None]) / (pts[1:-1] - pts[:-2])[:, None]
    upper = (pts[2:, None] - freqs[None, :]) / (pts[2:] - pts[1:-1])[:, None]
    return np.maximum(0.0, np.minimum(lower, upper))


def log_mel(x: np.ndarray, frames: int, n_fft: int, hop: int, fb: np.ndarray) -> np.ndarray:
    """(frames, mel_bins) float32: frame t is x[t·hop : t·hop + n_fft] (zeros past the end),
    times a periodic Hann window; power spectrum |rfft|²; mel filters; natural log, floored
    at 1e-10."""
    need_len = (frames - 1) * hop + n_fft
    x = np.pad(x.astype(np.float64), (0, max(0, need_len - len(x))))[:need_len]
    window = np.hanning(n_fft + 1)[:-1]
    out = np.empty((frames, fb.shape[0]), np.float32)
    step = max(1, (1 << 22) // n_fft)  # frames per chunk: about 32 MB of float64 at a time
    for s in range(0, frames, step):
        t = np.arange(s, min(frames, s + step))
        seg = x[t[:, None] * hop + np.arange(n_fft)[None, :]] * window
        power = np.abs(np.fft.rfft(seg, axis=1)) ** 2
        out[s : s + len(t)] = np.log(np.maximum(power @ fb.T, LOG_FLOOR))
    return out
