"""Checks and normalisation shared by every provider: whatever a model returns leaves as unit float32 rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from canvasd.errors import EmbedderError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


def unit_rows(rows: Any, *, count: int, dim: int | None, provider: str, where: str) -> NDArray[np.float32]:
    """`rows` as an L2-normalised (count, dim) float32 array; EmbedderError naming `where` if it is not one.

    `dim` None accepts any consistent length. Zero, NaN and infinite vectors are refused: they cannot be
    normalised and would poison every search that meets them.
    """
    import numpy as np

    try:
        matrix = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbedderError(f"{where} returned vectors of inconsistent length or non-numeric values ({exc})",
                            provider=provider) from exc
    if matrix.ndim != 2 or matrix.shape[0] != count:
        got = matrix.shape[0] if matrix.ndim >= 1 else 0
        raise EmbedderError(f"{where} returned {got} vectors for {count} texts (shape {matrix.shape})",
                            provider=provider)
    if count and matrix.shape[1] == 0:
        raise EmbedderError(f"{where} returned empty vectors", provider=provider)
    if dim is not None and count and matrix.shape[1] != dim:
        raise EmbedderError(f"{where} returned vectors of length {matrix.shape[1]}, expected {dim} (did the "
                            "model behind it change? restart canvasd after changing models)", provider=provider)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if count and not (np.all(np.isfinite(norms)) and np.all(norms > 0)):
        raise EmbedderError(f"{where} returned a zero, NaN or infinite vector", provider=provider)
    return np.ascontiguousarray(matrix / norms if count else matrix, dtype=np.float32)
