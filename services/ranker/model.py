"""The ranking model: an ONNX file checked against the feature schema when it loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from common.features import ARTWORK_DIM, CONTEXT_DIM, SCHEMA_VERSION, VIEWER_DIM
from common.model_contract import INPUTS, OUTPUT, SCHEMA_KEY, VERSION_KEY
from common.storage import Location, StorageError

_FLOAT = "tensor(float)"
_PROBE_ROWS = 3

# onnxruntime's exceptions derive from Exception directly, not from one base.
_ORT_ERRORS = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)


class ModelError(Exception):
    """A model file cannot serve: missing, corrupt, or not built for this feature schema."""


class RankingModel:
    """Scores a page's candidates for one viewer in one batched inference.

    Safe to call from several threads at once (onnxruntime sessions are).
    """

    def __init__(
        self, path: Path | str, *, intra_op_threads: int = 1, content: bytes | None = None
    ) -> None:
        """Loads the file at `path`, or `content` when given (a model read from an object
        store, `path` then only naming it in messages)."""
        self.path = path
        if content is None and not Path(path).is_file():
            raise ModelError(f"model file {path} does not exist")
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle worker threads sleep instead of spinning: on two cores shared with
        # the gateway, spinning burns the CPU the rest of the page needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(path) if content is None else content,
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except _ORT_ERRORS as error:
            raise ModelError(f"model file {path} cannot be loaded: {error}") from error
        self._check_signature()
        self._version = self._check_metadata()
        self._check_probe()

    @property
    def version(self) -> str:
        return self._version

    def score(self, viewer: np.ndarray, context: np.ndarray, artwork: np.ndarray) -> np.ndarray:
        """Scores (n,) for viewer [1, VIEWER_DIM], context [1, CONTEXT_DIM], artwork [n, A]."""
        (scores,) = self._session.run(
            [OUTPUT],
            {
                name: np.ascontiguousarray(array, dtype=np.float32)
                for name, array in zip(INPUTS, (viewer, context, artwork), strict=True)
            },
        )
        return scores

    def _fail(self, problem: str) -> ModelError:
        return ModelError(f"model file {self.path} {problem}")

    def _check_signature(self) -> None:
        found = {
            node.name: (node.type, tuple(d if isinstance(d, int) else None for d in node.shape))
            for node in self._session.get_inputs()
        }
        expected = {name: (_FLOAT, shape) for name, shape in INPUTS.items()}
        if found != expected:
            raise self._fail(f"has inputs {found}, expected {expected}")
        outputs = [(node.name, node.type, len(node.shape)) for node in self._session.get_outputs()]
        if outputs != [(OUTPUT, _FLOAT, 1)]:
            raise self._fail(f"has outputs {outputs}, expected one 1-D float output {OUTPUT!r}")

    def _check_metadata(self) -> str:
        metadata = self._session.get_modelmeta().custom_metadata_map
        schema = metadata.get(SCHEMA_KEY)
        if schema != SCHEMA_VERSION:
            raise self._fail(f"was built for feature schema {schema!r}, not {SCHEMA_VERSION!r}")
        version = metadata.get(VERSION_KEY)
        if not version:
            raise self._fail(f"has no {VERSION_KEY!r} metadata")
        return version

    def _check_probe(self) -> None:
        probe = np.linspace(-1.0, 1.0, _PROBE_ROWS * ARTWORK_DIM, dtype=np.float32)
        try:
            scores = self.score(
                np.full((1, VIEWER_DIM), 0.5, dtype=np.float32),
                np.zeros((1, CONTEXT_DIM), dtype=np.float32),
                probe.reshape(_PROBE_ROWS, ARTWORK_DIM),
            )
        except _ORT_ERRORS as error:
            raise self._fail(f"fails on a probe batch: {error}") from error
        if scores.shape != (_PROBE_ROWS,) or not np.isfinite(scores).all():
            raise self._fail(f"gives {scores!r} for a {_PROBE_ROWS}-candidate probe batch")


def model_at(model: Location, *, intra_op_threads: int = 1) -> RankingModel:
    """The model at `model`: from its file on a local disk, from its bytes on an object
    store; StorageError when the store cannot be reached."""
    local = model.local_path
    if local is not None:
        return RankingModel(local, intra_op_threads=intra_op_threads)
    try:
        content = model.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file {model} does not exist") from None
    except OSError as error:  # the store went away between its listing and this read
        raise StorageError(f"{model}: cannot be read ({error})") from None
    return RankingModel(str(model), intra_op_threads=intra_op_threads, content=content)
