"""Coming from BERTopic: import a fitted model (each format), classify through Tier 1, export, load it back.

One small BERTopic is fitted per module on planted data with known topics
(given embeddings, seeded UMAP and HDBSCAN: nothing is downloaded) and saved
as safetensors, pytorch and pickle.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ray_topics.cli import main
from ray_topics.core.foreign_topics import parse_exported_label
from ray_topics.core.index import normalize
from ray_topics.core.text import video_text
from ray_topics.core.validation import VideoIn
from ray_topics.execution.bertopic_lib import BertopicUnavailable, require_bertopic
from ray_topics.execution.runtime import Runtime
from ray_topics.interop.bertopic_export import export_bertopic
from ray_topics.interop.bertopic_files import BertopicModelError
from ray_topics.interop.bertopic_import import import_bertopic
from ray_topics.streams.planted import PlantedTopic, StreamSpec
from ray_topics.streams.synthetic import generate
from ray_topics.tiers.realtime import DomainClassifier, RealtimeClassifier
from tests.conftest import make_config

pytest.importorskip("bertopic")

AT = datetime(2026, 1, 10, tzinfo=UTC)
FORMATS = ("safetensors", "pytorch", "pickle")
CUSTOM = "planted zero"  # the custom label given to BERTopic topic 0
PLANTED = 4


class Fitted:
    """The planted data, the fitted BERTopic, its saved copies and its own transform of the training data."""

    def __init__(self, root: Path) -> None:
        from bertopic import BERTopic
        from hdbscan import HDBSCAN
        from sklearn.feature_extraction.text import CountVectorizer
        from umap import UMAP

        spec = StreamSpec(
            topics=[PlantedTopic(f"news/t{i}", "news", rate=25.0) for i in range(PLANTED)],
            days=4,
            noise_rate=2.0,
            seed=11,
            start=AT.replace(day=1),
        )
        self.stream = generate(spec)
        v = self.stream.videos
        self.docs = [video_text(t, d, g, 1000) for t, d, g in zip(v.title, v.description, v.tags, strict=True)]
        self.emb = self.stream.embeddings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = BERTopic(
                embedding_model=None,
                umap_model=UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42),
                hdbscan_model=HDBSCAN(min_cluster_size=20, min_samples=5, prediction_data=True),
                vectorizer_model=CountVectorizer(stop_words="english"),
            ).fit(self.docs, self.emb)
            self.model.set_topic_labels({0: CUSTOM})
            self.own, _ = self.model.transform(self.docs, self.emb)  # the full pipeline: UMAP + HDBSCAN
        self.topics = sorted(t for t in self.model.topic_representations_ if t != -1)
        self.paths = {
            "safetensors": root / "model_st",
            "pytorch": root / "model_pt",
            "pickle": root / "model.pkl",
        }
        for fmt, p in self.paths.items():
            self.model.save(str(p), serialization=fmt, save_embedding_model=False)
        np.savez(root / "train.npz", embeddings=self.emb, ids=np.array(v["video_id"], dtype=str))
        self.embeddings = root / "train.npz"

    def row(self, k: int) -> int:
        return k + self.model._outliers


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    return Fitted(tmp_path_factory.mktemp("bertopic"))


def _runtime(tmp: Path, *overrides: str, store: tuple[str, str | None] | None = None) -> Runtime:
    return Runtime(make_config(tmp, *overrides, store=store))


def _tier1(rt: Runtime, fitted: Fitted, domain: str = "news") -> list[dict[str, Any]]:
    """Tier 1's stored answers for the training documents (classified and committed, as a request would be)."""
    v = fitted.stream.videos
    videos = [
        VideoIn(
            video_id=r.video_id,
            channel_id=r.channel_id,
            published_at=r.published_at.to_pydatetime(),
            title=d,
            domain=domain,
        )
        for r, d in zip(v.itertuples(), fitted.docs, strict=True)
    ]
    models = DomainClassifier(rt.registry, rt.confidence)
    tier1 = RealtimeClassifier(rt.router(embed_missing=False), models, rt.store)
    return tier1.classify_and_store(videos, fitted.emb, at=AT)


def _nearest(rt: Runtime, domain: str, emb: np.ndarray) -> list[str | None]:
    return rt.registry.latest(domain).index(**rt.confidence).search(emb).nearest


def _check_imported(rt: Runtime, fitted: Fitted, domain: str = "news") -> None:
    """Same topics, ids, labels, keywords and centroids as the BERTopic model."""
    topics = {t.topic_id: t for t in rt.store.topics.list(domain)}
    assert sorted(topics) == sorted(f"{domain}:{k}" for k in fitted.topics)
    for k in fitted.topics:
        t = topics[f"{domain}:{k}"]
        words = [w for w, _s in fitted.model.get_topic(k) if w]
        assert t.keywords == words
        assert t.label == (CUSTOM if k == 0 else ", ".join(words[:3]))
        assert t.size == fitted.model.topic_sizes_[k]
        np.testing.assert_allclose(t.centroid, normalize(fitted.model.topic_embeddings_[fitted.row(k)]), atol=1e-6)
    assert rt.store.bertopic_ids.by_topic(domain) == {f"{domain}:{k}": k for k in fitted.topics}
    snap = rt.registry.latest(domain)
    assert snap.version == 1 and sorted(snap.topic_ids) == sorted(topics)


def _agreement(ours: list[str | None], theirs: np.ndarray, domain: str = "news") -> float:
    """Share of the documents both sides give a topic on which the topics agree."""
    pairs = [(o, int(b)) for o, b in zip(ours, theirs, strict=True) if o is not None and b != -1]
    return float(np.mean([o == f"{domain}:{b}" for o, b in pairs]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_each_format_then_tier1_serves_it(fitted: Fitted, tmp_path: Path, fmt: str, capsys) -> None:
    work = tmp_path / "w"
    rc = main(
        ["import-bertopic", str(fitted.paths[fmt]), "--domain", "news", "--workdir", str(work), "--as-of", "2026-01-10"]
    )
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["serialization"] == fmt
    assert out["domains"]["news"]["version"] == "news@v1"
    assert out["calibration"] == {"prior": len(fitted.topics)}
    rt = _runtime(work)
    _check_imported(rt, fitted)
    answers = _tier1(rt, fitted)
    assert {a["model_version"] for a in answers} == {"news@v1"}
    # the planted topics are found: most training documents get a topic, and it is BERTopic's own
    assert np.mean([a["topic_id"] is not None for a in answers]) > 0.8
    assert _agreement([a["topic_id"] for a in answers], fitted.own) >= 0.95
    if fmt != "pickle":  # BERTopic's own transform after load: cosine to the same topic embeddings
        loaded_own, _ = require_bertopic().load(str(fitted.paths[fmt])).transform(fitted.docs, fitted.emb)
        assert [f"news:{k}" for k in loaded_own] == _nearest(rt, "news", fitted.emb)
    assert main(["topics", "--workdir", str(work), "--domain", "news"]) == 0
    listed = capsys.readouterr().out
    assert all(f"news:{k} " in listed and f"[BERTopic {k}]" in listed for k in fitted.topics)


def test_calibration_from_training_embeddings_and_prior(fitted: Fitted, tmp_path: Path) -> None:
    with_emb = _runtime(tmp_path / "a")
    summary = import_bertopic(with_emb, fitted.paths["safetensors"], "news", AT, embeddings=fitted.embeddings)
    assert summary["calibration"] == {"training embeddings": len(fitted.topics)}
    prior = _runtime(tmp_path / "b")
    import_bertopic(prior, fitted.paths["safetensors"], "news", AT)
    for k in fitted.topics:
        members = normalize(fitted.emb[np.asarray(fitted.model.topics_) == k])
        measured = with_emb.store.topics.get(f"news:{k}")
        sims = members @ measured.centroid
        assert measured.sim_mean == pytest.approx(float(np.median(sims)), abs=1e-5)
        assert measured.sim_std > 0
        # the prior's mu is the norm of the topic embedding: the members' mean cosine
        assumed = prior.store.topics.get(f"news:{k}")
        assert assumed.sim_mean == pytest.approx(float(sims.mean()), abs=1e-4)
        assert assumed.sim_std == prior.cfg.bertopic.prior_sim_std


def test_export_loads_in_bertopic_transforms_by_our_centroids_and_draws(fitted: Fitted, tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "w")
    import_bertopic(rt, fitted.paths["safetensors"], "news", AT, embeddings=fitted.embeddings)
    answers = _tier1(rt, fitted)
    out = tmp_path / "export"
    assert main(["export-bertopic", "news", str(out), "--workdir", str(tmp_path / "w")]) == 0
    loaded = require_bertopic().load(str(out))
    ours = {t.topic_id: t for t in rt.store.topics.list("news")}
    snap = rt.registry.latest("news")
    assert len(loaded.get_topics()) == len(fitted.topics) == len(snap.topic_ids)
    ids = {}
    for k in sorted(loaded.get_topics()):
        domain, number, label = parse_exported_label(loaded.custom_labels_[k])
        tid = f"{domain}:{number}"
        ids[k] = tid
        assert label == ours[tid].label
        assert [w for w, _s in loaded.get_topic(k)] == ours[tid].keywords
        # an imported topic's keywords are unchanged: BERTopic's own scores travel back
        assert [s for _w, s in loaded.get_topic(k)] == pytest.approx([s for _w, s in fitted.model.get_topic(number)])
        np.testing.assert_allclose(loaded.topic_embeddings_[k], ours[tid].centroid, atol=1e-6)
        assert loaded.topic_sizes_[k] == sum(a["topic_id"] == tid for a in answers)
    assert sorted(ids.values()) == sorted(ours)  # our ids are kept in the custom labels
    predicted, _ = loaded.transform(fitted.docs, fitted.emb)
    assert [ids[int(k)] for k in predicted] == _nearest(rt, "news", fitted.emb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fig in (
            loaded.visualize_topics(),
            loaded.visualize_barchart(),
            loaded.visualize_heatmap(),
            loaded.visualize_hierarchy(),
        ):
            assert fig.data  # drawn from the topics alone, no training documents
    # import -> export -> import: ids, labels, keywords, centroids and calibration survive
    again = _runtime(tmp_path / "again")
    import_bertopic(again, out, "news", AT)
    back = {t.topic_id: t for t in again.store.topics.list("news")}
    assert sorted(back) == sorted(ours)
    for tid, t in ours.items():
        assert (back[tid].label, back[tid].keywords) == (t.label, t.keywords)
        np.testing.assert_allclose(back[tid].centroid, t.centroid, atol=1e-6)
        assert (back[tid].sim_mean, back[tid].sim_std) == pytest.approx((t.sim_mean, t.sim_std))


def test_export_of_a_domain_without_a_model_and_onto_an_existing_folder(fitted: Fitted, tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "w")
    with pytest.raises(BertopicModelError, match="no model yet"):
        export_bertopic(rt, "news", tmp_path / "out")
    import_bertopic(rt, fitted.paths["safetensors"], "news", AT)
    (tmp_path / "taken").mkdir()
    with pytest.raises(BertopicModelError, match="exists already"):
        export_bertopic(rt, "news", tmp_path / "taken")


def test_domain_map_splits_one_model_into_domains(fitted: Fitted, tmp_path: Path) -> None:
    work = tmp_path / "w"
    moved = fitted.topics[-2:]
    dmap = tmp_path / "map.yaml"
    dmap.write_text("".join(f"{k}: tech\n" for k in moved))
    args = ["import-bertopic", str(fitted.paths["pickle"]), "--domain", "news", "--domain-map", str(dmap)]
    rc = main([*args, "--workdir", str(work), "--as-of", "2026-01-10"])
    assert rc == 0
    rt = _runtime(work)
    assert sorted(t.topic_id for t in rt.store.topics.list("tech")) == [f"tech:{k}" for k in moved]
    assert sorted(t.topic_id for t in rt.store.topics.list("news")) == [f"news:{k}" for k in fitted.topics[:-2]]
    assert rt.registry.latest_versions() == {"news": 1, "tech": 1}
    answers = _tier1(rt, fitted, domain="tech")
    assert {a["topic_id"] for a in answers} - {None} <= {f"tech:{k}" for k in moved}


def _no_store(work: Path) -> bool:
    return not (work / "ray_topics.db").exists()


def test_corrupt_file_not_a_model_and_wrong_dimension_write_nothing(fitted: Fitted, tmp_path: Path, capsys) -> None:
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"\x80\x04not a pickle at all" * 10)
    broken = tmp_path / "broken_st"
    broken.mkdir()
    for f in fitted.paths["safetensors"].iterdir():
        broken.joinpath(f.name).write_bytes(f.read_bytes())
    weights = broken / "topic_embeddings.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    notmodel = tmp_path / "not_a_model"
    notmodel.mkdir()
    (notmodel / "notes.txt").write_text("hello")
    cases = [
        (corrupt, [], "cannot read"),
        (broken, [], "corrupt or incomplete"),
        (notmodel, [], "not a BERTopic model folder"),
        (tmp_path / "missing", [], "no such file or folder"),
        (fitted.paths["safetensors"], ["--set", "embedding.dim=768"], "dimension 384, the configured embedder's"),
    ]
    for i, (path, extra, message) in enumerate(cases):
        work = tmp_path / f"w{i}"
        rc = main(["import-bertopic", str(path), "--domain", "news", "--workdir", str(work), *extra])
        err = capsys.readouterr().err
        assert rc == 2 and message in err, (path, err)
        assert _no_store(work), path  # refused before the store was opened


def test_import_into_a_domain_with_topics_writes_nothing(fitted: Fitted, tmp_path: Path) -> None:
    rt = _runtime(tmp_path / "w")
    import_bertopic(rt, fitted.paths["safetensors"], "news", AT)
    before = (rt.store.count("topics"), rt.store.count("model_versions"), rt.store.count("bertopic_ids"))
    with pytest.raises(BertopicModelError, match="already have topics"):
        import_bertopic(rt, fitted.paths["pickle"], "news", AT)
    assert (rt.store.count("topics"), rt.store.count("model_versions"), rt.store.count("bertopic_ids")) == before


def test_embeddings_that_do_not_match_the_training_documents_are_refused(fitted: Fitted, tmp_path: Path) -> None:
    short = tmp_path / "short.npy"
    np.save(short, fitted.emb[:10])
    work = tmp_path / "w"
    with pytest.raises(BertopicModelError, match="fitted on"):
        import_bertopic(_runtime(work), fitted.paths["safetensors"], "news", AT, embeddings=short)
    assert _no_store(work)


def test_without_bertopic_the_commands_give_the_install_hint(
    fitted: Fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "bertopic", None)
    with pytest.raises(BertopicUnavailable, match=r"ray-topics\[bertopic\]"):
        require_bertopic()
    assert main(["export-bertopic", "news", str(tmp_path / "o"), "--workdir", str(tmp_path / "w")]) == 2
    assert "pip install 'ray-topics[bertopic]'" in capsys.readouterr().err


def test_import_and_export_on_both_stores(fitted: Fitted, tmp_path: Path, store_url: tuple[str, str | None]) -> None:
    rt = _runtime(tmp_path / "w", store=store_url)
    try:
        import_bertopic(rt, fitted.paths["safetensors"], "news", AT, embeddings=fitted.embeddings)
        _check_imported(rt, fitted)
        rows = rt.store.bertopic_ids.of_domain("news")
        assert [r["representation"][0][0] for r in rows] == [fitted.model.get_topic(k)[0][0] for k in fitted.topics]
        assert all(r["imported_at"] == AT for r in rows)
        summary = export_bertopic(rt, "news", tmp_path / "out")
        assert summary["topics"] == len(fitted.topics)
    finally:
        rt.store.dispose()


def test_a_store_made_before_the_mapping_table_gains_it(store_url: tuple[str, str | None]) -> None:
    from sqlalchemy import inspect

    from ray_topics.storage.store import Store

    old = Store(*store_url)
    old.table("bertopic_ids").drop(old.engine)  # as a store written before this table existed
    assert "bertopic_ids" not in inspect(old.engine).get_table_names(schema=old.schema)
    old.dispose()
    reopened = Store(*store_url)  # every process opens its store this way: missing tables are created
    try:
        assert reopened.bertopic_ids.of_domain() == []
        reopened.bertopic_ids.add("news", {0: "news:0"}, {0: [("w", 0.5)]}, "m", AT)
        assert reopened.bertopic_ids.by_topic() == {"news:0": 0}
    finally:
        reopened.dispose()


def test_our_ctfidf_weights_rank_as_bertopics_class_tfidf_transformer(fitted: Fitted) -> None:
    from bertopic.vectorizers import ClassTfidfTransformer
    from scipy import sparse

    from ray_topics.core.keywords import ctfidf_keywords, ctfidf_scores, keyword_vectorizer

    labels = [int(t) for t in fitted.model.topics_]
    classes, words, ours = ctfidf_scores(fitted.docs, labels, min_docs=1)
    # the same document counts, weighted by BERTopic's own transformer
    vec = keyword_vectorizer(vocabulary=words)
    member = np.array([[lab == c for lab in labels] for c in classes], dtype=np.float64)
    tf = sparse.csr_matrix(member @ vec.transform(fitted.docs).toarray())
    theirs = ClassTfidfTransformer(reduce_frequent_words=True).fit(tf).transform(tf).toarray()
    top = 10
    for i in range(len(classes)):
        assert (
            np.argsort(-ours[i], kind="stable")[:top].tolist() == np.argsort(-theirs[i], kind="stable")[:top].tolist()
        )
        nz = ours[i] > 0
        ratio = theirs[i][nz] / ours[i][nz]  # one factor per class, up to BERTopic's A rounded down
        assert ratio.max() / ratio.min() == pytest.approx(1.0, abs=1e-2)
    assert ctfidf_keywords(fitted.docs, labels, top_n=top, min_docs=1) == {
        c: [str(words[j]) for j in np.argsort(-theirs[i], kind="stable")[:top]] for i, c in enumerate(classes)
    }


class _WordVectors:
    """A stand-in embedder: each word a fixed random unit vector, a text the mean of its words'."""

    dim = 32

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        def word(w: str) -> np.ndarray:
            return np.random.default_rng(abs(hash(w)) % 2**32).standard_normal(self.dim)

        rows = [np.mean([word(w) for w in (t.split() or ["-"])], axis=0) for t in texts]
        return normalize(np.array(rows, dtype=np.float32))


@pytest.mark.parametrize("kind", ["keybert", "mmr"])
def test_keyword_representation_reranks_our_ctfidf_candidates(fitted: Fitted, tmp_path: Path, kind: str) -> None:
    from ray_topics.core.keywords import ctfidf_keywords

    rt = Runtime(make_config(tmp_path, f"keywords.representation={kind}"), embedder=_WordVectors())
    labels = [int(t) for t in fitted.model.topics_]
    got = rt.keywords(fitted.docs, labels, top_n=10)
    candidates = ctfidf_keywords(fitted.docs, labels, top_n=rt.cfg.keywords.candidates)
    assert set(got) == set(candidates)
    for c, words in got.items():
        assert len(words) == min(10, len(candidates[c])) and set(words) <= set(candidates[c])
    plain = Runtime(make_config(tmp_path / "plain"))
    assert plain.keywords(fitted.docs, labels, top_n=10) == ctfidf_keywords(fitted.docs, labels, top_n=10)


def test_a_damaged_model_or_map_is_refused_before_anything_is_written(tmp_path: Path, monkeypatch) -> None:
    """Found by review: a topic whose representation holds no word (BERTopic writes ``("", 1e-05)`` pairs) was
    imported with no keywords; a NaN in the topic embeddings became a NaN centroid; a domain map key ``1.5``
    or ``true`` was truncated to topic 1, and ``0`` beside ``"0"`` named one topic twice (the last won)."""
    import types

    from ray_topics.config import load_config
    from ray_topics.interop import bertopic_files, bertopic_import
    from ray_topics.interop.bertopic_files import BertopicModelError
    from ray_topics.interop.bertopic_import import read_domain_map

    dim = load_config().embedding.dim
    model = types.SimpleNamespace(
        topic_embeddings_=np.eye(3, dim, dtype=np.float32),
        topic_representations_={-1: [("a", 0.1)], 0: [("bread", 0.5)], 1: [("", 1e-05), ("", 1e-05)]},
        topic_sizes_={-1: 1, 0: 5, 1: 4},
        custom_labels_=None,
        topic_labels_={},
        topics_=None,
    )
    loaded = bertopic_files._loaded(tmp_path, model, "safetensors", None, None)
    assert [t.words for t in loaded.topics] == [[("bread", 0.5)], []]
    monkeypatch.setattr(bertopic_import, "read_model", lambda _p: dataclasses.replace(loaded, dim=dim))
    rt = _runtime(tmp_path)
    with pytest.raises(BertopicModelError, match=r"topic\(s\) \[1\] have no keywords"):
        bertopic_import.import_bertopic(rt, tmp_path, "news", AT)
    assert rt.store.count("topics") == rt.store.count("model_versions") == 0
    model.topic_embeddings_[1, 0] = np.nan
    with pytest.raises(BertopicModelError, match=r"NaN or infinite values \(topics \[0\]\)"):
        bertopic_files._loaded(tmp_path, model, "safetensors", None, None)
    domains = ["news", "tech"]
    for text in ("1.5: tech\n", "true: tech\n", "0: news\n'0': tech\n"):
        (tmp_path / "map.yaml").write_text(text)
        with pytest.raises(BertopicModelError, match="is not a BERTopic topic id"):
            read_domain_map(tmp_path / "map.yaml", domains)
    (tmp_path / "map.yaml").write_text("0: news\n'3': tech\n")
    assert read_domain_map(tmp_path / "map.yaml", domains) == {0: "news", 3: "tech"}


def test_a_damaged_export_sidecar_is_refused_before_anything_is_written(fitted: Fitted, tmp_path: Path, capsys) -> None:
    """Found by review: a ``ray_topics.json`` with a topic entry of the wrong shape was a traceback mid-import."""
    from ray_topics.interop.bertopic_files import SIDECAR

    good = {"bertopic_id": 0, "topic_id": "news:0", "label": None, "sim_mean": 0.6, "sim_std": 0.1}
    cases = [
        ("[]", "not a JSON object"),
        (json.dumps({"topics": 3}), "'topics' is not a list"),
        (json.dumps({"topics": [{**good, "bertopic_id": "zero"}]}), "bertopic_id 'zero'"),
        (json.dumps({"topics": [{**good, "bertopic_id": True}]}), "bertopic_id True"),
        (json.dumps({"topics": [{k: v for k, v in good.items() if k != "sim_std"}]}), "topic entry 0"),
        (json.dumps({"topics": [good, {**good, "bertopic_id": 1, "sim_mean": "high"}]}), "topic entry 1"),
        (json.dumps({"topics": [{**good, "sim_std": -0.1}]}), "a std >= 0"),
        ('{"topics": [{"bertopic_id": 0, "sim_mean": NaN, "sim_std": 0.1}]}', "a finite mean"),
        ("{not json", "cannot read"),
    ]
    for i, (text, message) in enumerate(cases):
        folder = tmp_path / f"model{i}"
        folder.mkdir()
        for f in fitted.paths["safetensors"].iterdir():
            folder.joinpath(f.name).write_bytes(f.read_bytes())
        (folder / SIDECAR).write_text(text)
        work = tmp_path / f"w{i}"
        rc = main(["import-bertopic", str(folder), "--domain", "news", "--workdir", str(work)])
        err = capsys.readouterr().err
        assert rc == 2 and message in err, (text, err)
        assert _no_store(work), text
    # a sound sidecar is the calibration of the topics it names
    (folder / SIDECAR).write_text(json.dumps({"topics": [good]}))
    rt = _runtime(tmp_path / "sound")
    summary = import_bertopic(rt, folder, "news", AT)
    assert (rt.store.topics.get("news:0").sim_mean, rt.store.topics.get("news:0").sim_std) == pytest.approx((0.6, 0.1))
    assert summary["calibration"] == {"export sidecar": 1, "prior": len(fitted.topics) - 1}
