"""TensorBoard event files, from any writer: torch.utils.tensorboard, tensorboardX, Keras,
Lightning's TensorBoardLogger, the Hugging Face Trainer's report_to="tensorboard".

Read with the TensorBoard project's own record reader and protocol buffers (the `tensorboard`
package: `compat.tensorflow_stub.pywrap_tensorflow.PyRecordReader_New`, the reader its
`event_file_loader` uses when TensorFlow is absent, and `compat.proto.event_pb2`), never a
hand-written parser. Scalars come as `simple_value` (PyTorch, tensorboardX) or as a scalar
tensor of the "scalars" plugin (TensorFlow 2, Keras); tags keep their slashes (`train/loss`).

Several event files in one folder are one run written in pieces (a resumed run): they are read
in the order they were opened (the timestamp in their names), and a step logged again after a
restart replaces what was logged before (see `table.standing`). A file cut off mid-record (a
killed run) gives the records before the cut, with a warning.
"""
from __future__ import annotations

import re
import warnings
from array import array
from pathlib import Path

import numpy as np

from ..format import Run, RunError
from .table import Assembly, Logged, build_run

PATTERN = "events.out.tfevents.*"
_OPENED = re.compile(r"events\.out\.tfevents\.(\d+)")
#: TensorFlow's DataType codes of the scalar tensors the "scalars" plugin writes.
_FLOAT_TYPES = {1: np.float32, 2: np.float64, 19: np.float16, 3: np.int32, 9: np.int64}


class TruncatedLogWarning(UserWarning):
    """An event file that ends in the middle of a record (a killed run): read up to the cut."""


def event_files(folder: Path) -> list[Path]:
    """The event files directly in `folder`, in the order they were opened."""
    def opened(path: Path):
        match = _OPENED.match(path.name)
        return (int(match.group(1)) if match else 0, path.name)

    return sorted((p for p in Path(folder).glob(PATTERN) if p.is_file()), key=opened)


def _records(path: Path):
    """The serialized records of one event file; a warning, and the end, at a cut."""
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

    reader = pywrap_tensorflow.PyRecordReader_New(str(path).encode(), 0, b"", None)
    count = 0
    try:
        while True:
            try:
                reader.GetNext()
            except errors.OutOfRangeError:
                return
            except errors.DataLossError as error:
                what = str(error.message).replace(str(path), "").strip()
                warnings.warn(f"{path}: {what or 'unreadable record'} after {count} complete "
                              f"records (a killed run?): read those, ignored the rest",
                              TruncatedLogWarning, stacklevel=4)
                return
            count += 1
            yield reader.record()
    finally:
        reader.file_handle.close()


def text_summaries(path: Path, tags) -> dict[str, str]:
    """The first text summary of each of `tags` in one event file (e.g. the Trainer's
    "args", which PyTorch's writer stores as "args/text_summary")."""
    from tensorboard.compat.proto import event_pb2

    found: dict[str, str] = {}
    for record in _records(path):
        event = event_pb2.Event.FromString(record)
        for value in event.summary.value:
            tag = value.tag.removesuffix("/text_summary")  # PyTorch's writer adds it
            if tag in tags and tag not in found and value.tensor.string_val:
                found[tag] = value.tensor.string_val[0].decode("utf-8", "replace")
        if len(found) == len(tags):
            break
    return found


class _Scalars:
    """Scalars of one run as they are read: per tag, steps, values and wall times."""

    def __init__(self):
        self.tags: dict[str, tuple[array, array, array]] = {}
        self.plugins: dict[str, str] = {}
        self.events = 0
        self.kinds: set[str] = set()

    def add(self, name: str, step: int, value: float, wall: float) -> None:
        columns = self.tags.get(name)
        if columns is None:
            columns = self.tags[name] = (array("d"), array("d"), array("d"))
        columns[0].append(step)
        columns[1].append(value)
        columns[2].append(wall)

    def read(self, path: Path, prefix: str) -> None:
        from tensorboard.compat.proto import event_pb2

        parse = event_pb2.Event.FromString
        for record in _records(path):
            event = parse(record)
            self.events += 1
            values = event.summary.value
            if not values:
                self.kinds.add(event.WhichOneof("what") or "empty")
                continue
            for value in values:
                tag = value.tag
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = value.simple_value
                elif kind == "tensor":
                    if value.metadata.plugin_data.plugin_name:
                        self.plugins[tag] = value.metadata.plugin_data.plugin_name
                    number = _scalar_tensor(value.tensor, self.plugins.get(tag))
                    if number is None:
                        self.kinds.add(self.plugins.get(tag) or "tensor")
                        continue
                else:
                    self.kinds.add(kind or "empty")
                    continue
                self.add(_name(prefix, tag), event.step, number, event.wall_time)


def _scalar_tensor(tensor, plugin: str | None) -> float | None:
    """The value of a one-element numeric tensor of the "scalars" plugin, else None."""
    if plugin not in (None, "scalars") or tensor.dtype not in _FLOAT_TYPES:
        return None
    if any(dim.size != 1 for dim in tensor.tensor_shape.dim):
        return None
    for field in ("float_val", "double_val", "int_val", "int64_val", "half_val"):
        values = getattr(tensor, field)
        if len(values) == 1:
            return float(values[0])
    if tensor.tensor_content:
        data = np.frombuffer(tensor.tensor_content, _FLOAT_TYPES[tensor.dtype])
        if len(data) == 1:
            return float(data[0])
    return None


def _name(prefix: str, tag: str) -> str:
    """A tag read from a sub-folder: 'validation/epoch_loss' (Keras), 'loss_pair/eval'
    (tensorboardX's add_scalars writes the main tag into <main tag>/<series>/)."""
    if not prefix:
        return tag
    if prefix.split("/")[0] == tag:
        return prefix.rstrip("/")
    return prefix + tag


def read(folder: Path, parts: list[tuple[str, Path]] | None = None,
         assembly: Assembly | None = None) -> Run:
    """A run from the event files of `folder` (and of `parts`: (tag prefix, sub-folder) pairs
    merged into it); a single event file may be given as `folder`."""
    folder = Path(folder)
    if folder.is_file():
        files, folder = [("", folder)], folder.parent
    else:
        files = [("", path) for path in event_files(folder)]
    for prefix, sub in parts or []:
        files += [(prefix, path) for path in event_files(sub)]
    if not files:
        raise RunError(f"{folder}: no TensorBoard event files ({PATTERN}) here")
    scalars = _Scalars()
    for prefix, path in files:
        scalars.read(path, prefix)
    if not scalars.tags:
        kinds = ", ".join(sorted(scalars.kinds)) or "nothing"
        names = ", ".join(path.name for _, path in files)
        raise RunError(f"{folder}: the event file(s) {names} hold no scalars ({scalars.events} "
                       f"events read; they hold {kinds})")
    assembly = assembly or Assembly(folder, "tensorboard")
    if len(files) > 1:
        assembly.notes.append(f"{len(files)} event files read as one run")
    logged = {}
    for name, (steps, values, walls) in scalars.tags.items():
        logged[name] = Logged(np.frombuffer(steps, float), np.frombuffer(values, float),
                              np.frombuffer(walls, float))
    return build_run(assembly, logged)
