"""The in-process floor: the reference page decided with no RPC at all.

The same validation, the same catalog gather, the same onnxruntime call over
every candidate, the same policy, the same tile assembly and the same response
message (serialized, as the server does) — only the network hops are gone.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import numpy as np
from keyart.gateway.v1 import gateway_service_pb2 as pb

from common import features, ranking_wire
from demo.catalog import demo_titles
from gateway.backends import Ranking, TitleCandidates, ViewerFeatures
from gateway.config import PageLimits
from gateway.page_request import parse_page_request
from gateway.render import (
    RenderedPage,
    TitleGroup,
    assemble_rows,
    encode_page,
    ranked_tiles,
    viewer_fallback,
)
from services.artwork.catalog import Catalog
from services.artwork.config import DEFAULT_IMAGE_BASE_URL
from services.ranker.model import RankingModel
from services.ranker.policy import Policy

LIMITS = PageLimits(100, 100, 4000, 250, 10_000)


class InProcessPage:
    def __init__(self, model_path: Path, viewers: dict[str, np.ndarray]) -> None:
        self._catalog = Catalog(demo_titles(), DEFAULT_IMAGE_BASE_URL)
        self._titles = {
            entry.title.title_id: TitleCandidates(
                entry.title.title_id,
                entry.default_artwork_id,
                entry.artwork_ids,
                entry.image_urls,
                self._catalog.version,
                entry.rows.start,
            )
            for entry in self._catalog
        }
        self._model = RankingModel(model_path)
        self._policy = Policy()
        self._viewers = viewers

    def decide(self, request: pb.RenderPageRequest) -> bytes:
        page = parse_page_request(request, LIMITS)
        page_id = uuid.uuid4().hex
        ids = page.unique_title_ids()
        entries, packed = self._catalog.candidates(ids)
        found = [self._titles[entry.title.title_id] for entry in entries if entry is not None]
        group = TitleGroup.of(self._catalog.version, found)
        viewer = self._viewers.get(page.user_id, features.cold_start_vector())
        context = features.context_vector(
            page.context.device_type, page.context.local_hour, page.context.day_of_week
        )
        artwork = features.unpack(packed, features.ARTWORK_DIM, field="artwork")
        scores = self._model.score(viewer[None, :], context[None, :], artwork)
        decisions = self._policy.choose(scores, np.asarray(group.counts), page_id)
        # The ranker's arrays as the gateway receives them.
        packed_decisions = ranking_wire.pack(
            decisions.indices, decisions.scores, decisions.propensities
        )
        ranking = Ranking(*ranking_wire.unpack(**packed_decisions), self._model.version)
        viewer_known = ViewerFeatures(True, features.SCHEMA_VERSION, b"")
        tiles = ranked_tiles(group, ranking, viewer_fallback(viewer_known))
        fallbacks: Counter[pb.FallbackReason] = Counter()
        rows = assemble_rows(page, [group], [tiles], pb.FALLBACK_REASON_UNKNOWN_TITLE, fallbacks)
        rendered = RenderedPage(page_id, rows, fallbacks, [], self._model.version)
        return encode_page(rendered)
