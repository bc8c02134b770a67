"""Images drawn elsewhere (``python -m lit_gen.sample``, or another framework), read from a folder of PNG/JPEG
files or an ``.npz`` and served behind the generative protocol, so ``measure`` scores them as a model's samples
(``python -m lit_gen.evaluate --images``). Every input is checked before any scoring starts; a bad one is a
one-line ``UserError`` naming the path and what was expected."""

from __future__ import annotations

from pathlib import Path

from lit_gen.errors import UserError

NPZ_KEY = "images"  # the uint8 (N, H, W, C) array of an .npz of images (python -m lit_gen.sample writes it)


class ImageFiles:
    """Images drawn elsewhere, in file order, behind the generative protocol that ``measure`` drives."""

    training = False

    def __init__(self, images, found: int):
        self.images, self.found, self._next = images, found, 0  # uint8 (n, H, W, C); how many the input holds

    def sample(self, n: int, generator=None):
        """The next ``n`` images as floats in [0, 1], (n, C, H, W); ``generator`` is unused (already drawn)."""
        import torch

        x = self.images[self._next : self._next + n]
        self._next += len(x)
        return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0

    def reconstruct(self, x):
        return None  # no encoder

    def parameters(self):
        return iter(())  # no weights: measure() stays on the CPU

    def train(self, mode: bool = True) -> "ImageFiles":
        self.training = mode
        return self

    def eval(self) -> "ImageFiles":
        return self.train(False)


def images_kind(images: str) -> str:
    """``folder`` or ``npz``; a one-line error for anything else (checked before the data set is built)."""
    p = Path(images)
    if p.is_dir():
        return "folder"
    if p.is_file() and p.suffix.lower() == ".npz":
        return "npz"
    what = "not a folder or an .npz file" if p.exists() else "no such file or folder"
    raise UserError(f"--images {images}: {what}; expected a folder of PNG/JPEG images or an .npz of uint8 "
                    "'images' (N, H, W, C) as python -m lit_gen.sample writes")


def open_images(path: Path, kind: str, info, data_name: str, limit: int) -> ImageFiles:
    """The first ``limit`` images, read and checked whole before any scoring starts."""
    tone = "grey" if info.channels == 1 else "RGB"
    expected = (f"{info.image_size}x{info.image_size} {tone} images (data.name={data_name}: "
                f"data.image_size={info.image_size}, {info.channels} channel(s))")
    if kind == "npz":
        return _npz_images(path, info, expected, limit)
    return _png_images(path, info, expected, limit)


def _npz_images(path: Path, info, expected: str, limit: int) -> ImageFiles:
    import numpy as np

    a = _npz_array(path, NPZ_KEY)
    if a is None:
        raise UserError(f"--images {path}: no '{NPZ_KEY}' array in it; expected uint8 '{NPZ_KEY}' (N, H, W, C) of "
                        f"{expected}")
    want = (info.image_size, info.image_size, info.channels)
    if a.dtype != np.uint8 or a.ndim != 4 or tuple(a.shape[1:]) != want or len(a) == 0:
        raise UserError(f"--images {path}: '{NPZ_KEY}' is {a.dtype} of shape {tuple(a.shape)}; expected uint8 "
                        f"(N>=1, {', '.join(map(str, want))}): {expected}")
    return ImageFiles(a[:limit], len(a))


def _npz_array(path: Path, key: str):
    """The array ``key`` of an .npz (None if it has none); a one-line error for a file that is no readable .npz."""
    import numpy as np

    try:
        z = np.load(path)  # allow_pickle=False: an object array is refused, never run
        if not hasattr(z, "files"):
            raise ValueError("a bare .npy array, not an .npz archive")
        with z:
            return z[key] if key in z.files else None
    except Exception as e:  # noqa: BLE001 - not a zip, cut short, a pickle: the user's bad file
        raise UserError(f"--images {path}: not a readable .npz ({_first_line(e)})") from None


def _png_images(folder: Path, info, expected: str, limit: int) -> ImageFiles:
    """Grey data also takes RGB files whose three channels are equal (torchvision's ``save_image`` writes grey
    images that way)."""
    import numpy as np

    from lit_gen.data.sources.folder import find_images, load_images

    found = find_images(folder)
    if not found:
        raise UserError(f"--images {folder}: no PNG/JPEG images in it; expected {expected}")
    files = found[:limit]
    for f in files:  # load_images would resize a wrong size: refuse it instead
        _check_header(f, info, expected)
    a, _, bad = load_images(files, 3, info.image_size)
    if bad:
        path, err = bad[0]
        raise UserError(f"--images: {path}: not a readable image ({err.splitlines()[0][:160]})")
    if info.channels == 3:
        return ImageFiles(a, len(found))
    colour = np.flatnonzero((a != a[..., :1]).any(axis=(1, 2, 3)))
    if len(colour):
        raise UserError(f"--images: {files[colour[0]]}: a colour image; expected {expected}")
    return ImageFiles(a[..., :1], len(found))


def _first_line(e: Exception) -> str:
    """An exception in a few words, for a one-line error: its message's first line, else its type."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:120]}" if text else type(e).__name__


def _check_header(path: Path, info, expected: str) -> None:
    """The size and tone Pillow reads from the file's header, against the data's."""
    from PIL import Image, ImageMode

    try:
        with Image.open(path) as im:
            (w, h), grey = im.size, ImageMode.getmode(im.mode).basemode == "L"
    except Exception as e:  # noqa: BLE001 - any file Pillow cannot open is the user's bad input
        raise UserError(f"--images: {path}: not a readable image ({_first_line(e)})") from None
    if (w, h) != (info.image_size, info.image_size):
        raise UserError(f"--images: {path}: {w}x{h} pixels; expected {expected}")
    if grey and info.channels == 3:
        raise UserError(f"--images: {path}: a grey image; expected {expected}")
