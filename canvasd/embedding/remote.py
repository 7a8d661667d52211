"""What the HTTP embedders share: one POST per call, answers checked and normalised, dim learned on first use."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from canvasd.embedding._http import post_json
from canvasd.embedding._vectors import unit_rows
from canvasd.errors import EmbedderError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

_PROBE_TEXT = "dimension probe"


class RemoteEmbedder(ABC):
    """An embedding server reached over HTTP; subclasses name the endpoint and read its answer."""

    provider: str
    path: str
    hint: str

    def __init__(self, url: str, model: str, *, timeout_s: float = 60.0) -> None:
        """`url`: the server's base URL; `model`: the model name it knows; `timeout_s`: per call."""
        if not url:
            raise EmbedderError(f"embedding.provider is {self.provider} but embedding.url is empty; set it to "
                                f"the server's base URL", provider=self.provider)
        if not model:
            raise EmbedderError(f"embedding.provider is {self.provider} but embedding.model is empty; set it to "
                                "the embedding model's name", provider=self.provider)
        self.url = url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self._dim: int | None = None

    @property
    def model_id(self) -> str:
        """"<provider>/<model>"."""
        return f"{self.provider}/{self.model}"

    @property
    def endpoint(self) -> str:
        """The URL every call goes to."""
        return self.url + self.path

    @property
    def dim(self) -> int:
        """Vector length, learned from the first answer (a one-text probe call if nothing was embedded yet)."""
        if self._dim is None:
            self.embed_passages([_PROBE_TEXT])
        assert self._dim is not None
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """(n, dim) unit rows in the order of `texts`: one POST, however many texts."""
        return self._embed(list(texts))

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """(dim,) unit vector (sent like a passage: these APIs make no query/passage difference)."""
        return self._embed([text])[0]

    def _embed(self, texts: list[str]) -> NDArray[np.float32]:
        if not texts:
            import numpy as np

            return np.zeros((0, self._dim or 0), dtype=np.float32)
        answer = post_json(self.endpoint, self.request_body(texts), headers=self.headers(),
                           timeout=self.timeout_s, provider=self.provider, hint=self.hint)
        rows = self.parse_answer(answer, len(texts))
        vectors = unit_rows(rows, count=len(texts), dim=self._dim, provider=self.provider,
                            where=f"{self.provider} server at {self.endpoint}")
        self._dim = int(vectors.shape[1])
        return vectors

    def headers(self) -> dict[str, str]:
        """Extra request headers (authentication)."""
        return {}

    def request_body(self, texts: list[str]) -> dict[str, Any]:
        """The JSON body of one call."""
        return {"model": self.model, "input": texts}

    @abstractmethod
    def parse_answer(self, answer: Any, count: int) -> list[Any]:
        """The vectors in an answer, in input order; EmbedderError when it is not the expected shape."""

    def _malformed(self, expected: str) -> EmbedderError:
        return EmbedderError(f"{self.provider} server at {self.endpoint} answered JSON without {expected}; "
                             f"is embedding.url a {self.provider} server?", provider=self.provider)
