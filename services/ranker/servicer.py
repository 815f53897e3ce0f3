"""RankerService over gRPC: unpack and check the page, score and choose off the loop, pack.

Titles the model scores NaN or infinity are answered as `unscored_titles`, with finite
placeholders (services/ranker/policy.py); the rest of the page is ranked as usual.

An experiment's cell may name a held model (`model_version`: the production one or a
cell model, services/ranker/cell_models.py) and its own exploration settings; the
request's other fields mean what they always do."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import grpc
import numpy as np
from keyart.ranker.v1 import ranker_service_pb2, ranker_service_pb2_grpc

from common import ranking_wire
from common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from common.features import ARTWORK_DIM, CONTEXT_DIM, VIEWER_DIM, unpack
from common.metrics import RANKED_CHOICES
from services.ranker.catalog_features import CandidateRows, CatalogFeatures
from services.ranker.cell_models import CellModels
from services.ranker.model import RankingModel
from services.ranker.policy import Decisions, Policy
from services.ranker.unscored_log import UnscoredLog

# Every feature the schema defines (common/features.py) is a weight, a share or a one-hot
# well inside this; anything beyond it would overflow float32 scores (3e38 gave NaN).
MAX_FEATURE_MAGNITUDE = 1e6


def _matrix(data: bytes, width: int, field: str) -> np.ndarray:
    try:
        matrix = unpack(data, width, field=field)
    except ValueError as error:
        raise InvalidArgument(field, str(error).removeprefix(f"{field}: ")) from None
    if not np.isfinite(matrix).all():
        raise InvalidArgument(field, "contains NaN or infinity")
    if matrix.size and np.abs(matrix).max() > MAX_FEATURE_MAGNITUDE:
        raise InvalidArgument(
            field, f"holds a value beyond ±{MAX_FEATURE_MAGNITUDE:g}, outside every feature's range"
        )
    return matrix


def _one_row(data: bytes, width: int, field: str) -> np.ndarray:
    matrix = _matrix(data, width, field)
    if matrix.shape[0] != 1:
        raise InvalidArgument(field, f"expected one row of {width} floats, got {matrix.shape[0]}")
    return matrix


class RankerServicer(ranker_service_pb2_grpc.RankerServiceServicer):
    """Unavailable until `use_model` hands it a loaded model."""

    def __init__(
        self,
        policy: Policy,
        *,
        max_candidates: int,
        catalog: CatalogFeatures | None = None,
        cell_models: CellModels | None = None,
    ) -> None:
        self._policy = policy
        self._max_candidates = max_candidates
        self._catalog = catalog
        self._cell_models = cell_models
        self._model: RankingModel | None = None
        self._unscored_log = UnscoredLog()

    def use_model(self, model: RankingModel) -> None:
        self._model = model

    @property
    def model_version(self) -> str:
        return "" if self._model is None else self._model.version

    def _held(self) -> dict[str, RankingModel]:
        """Every model a request may name, by version (the production one last: it wins)."""
        held = dict(self._cell_models.models) if self._cell_models is not None else {}
        if self._model is not None:
            held[self._model.version] = self._model
        return held

    async def ListModels(
        self, request: ranker_service_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> ranker_service_pb2.ListModelsResponse:
        if self._model is None:
            raise Unavailable("the ranking model is still loading")
        return ranker_service_pb2.ListModelsResponse(
            production_model_version=self._model.version, model_versions=sorted(self._held())
        )

    def _model_for(self, request: ranker_service_pb2.RankPageRequest) -> RankingModel:
        model = self._model
        if model is None:
            raise Unavailable("the ranking model is still loading")
        if not request.model_version:
            return model
        named = self._held().get(request.model_version)
        if named is None:
            raise NotFound(f"model_version: {request.model_version!r} is not held by this ranker")
        return named

    def _policy_for(self, request: ranker_service_pb2.RankPageRequest) -> Policy:
        if not request.HasField("exploration"):
            return self._policy
        try:
            return replace(
                self._policy,
                epsilon=request.exploration.epsilon,
                temperature=request.exploration.temperature,
            )
        except ValueError as error:
            raise InvalidArgument("exploration", str(error)) from None

    async def RankPage(
        self, request: ranker_service_pb2.RankPageRequest, context: grpc.aio.ServicerContext
    ) -> ranker_service_pb2.RankPageResponse:
        model = self._model_for(request)
        policy = self._policy_for(request)
        viewer = _one_row(request.viewer_features, VIEWER_DIM, "viewer_features")
        situation = _one_row(request.context_features, CONTEXT_DIM, "context_features")
        counts = np.asarray(request.candidate_counts, dtype=np.int64)
        candidates = await self._candidates(request, counts)
        if counts.size and counts.min() == 0:
            title = int(np.argmin(counts))
            raise InvalidArgument("candidate_counts", f"title {title} has no candidates")
        if counts.sum() != candidates.count:
            raise InvalidArgument(
                "candidate_counts",
                f"sum to {counts.sum()}, but artwork_features has {candidates.count} rows",
            )
        if request.title_ids and len(request.title_ids) != counts.size:
            raise InvalidArgument(
                "title_ids", f"{len(request.title_ids)} ids for {counts.size} candidate groups"
            )
        decisions = await asyncio.to_thread(
            self._rank, model, policy, viewer, situation, candidates, counts, request
        )
        unscored = decisions.unscored.size
        if unscored:
            self._unscored_log.record(model.version, unscored, counts.size)
        RANKED_CHOICES.labels("explore").inc(decisions.explored)
        RANKED_CHOICES.labels("exploit").inc(counts.size - decisions.explored - unscored)
        return ranker_service_pb2.RankPageResponse(
            **ranking_wire.pack(decisions.indices, decisions.scores, decisions.propensities),
            unscored_titles=ranking_wire.pack_unscored(decisions.unscored),
            model_version=model.version,
            policy=policy.name,
        )

    async def _candidates(
        self, request: ranker_service_pb2.RankPageRequest, counts: np.ndarray
    ) -> CandidateRows:
        """The candidates' feature rows: sent inline, or named by catalog rows."""
        if not request.catalog_version:
            artwork = _matrix(request.artwork_features, ARTWORK_DIM, "artwork_features")
            self._check_size(artwork.shape[0], "artwork_features")
            return CandidateRows(artwork)
        self._check_size(int(counts.sum()), "candidate_counts")
        if request.artwork_features:
            raise InvalidArgument("artwork_features", "must be empty when catalog_version is set")
        if self._catalog is None:
            raise FailedPrecondition("catalog_version: this ranker holds no catalog features")
        first_rows = np.asarray(request.first_rows, dtype=np.int64)
        return await self._catalog.rows(request.catalog_version, first_rows, counts)

    def _check_size(self, candidates: int, field: str) -> None:
        if candidates > self._max_candidates:
            raise InvalidArgument(
                field, f"{candidates} candidates exceed the limit of {self._max_candidates}"
            )

    def _rank(
        self,
        model: RankingModel,
        policy: Policy,
        viewer: np.ndarray,
        situation: np.ndarray,
        candidates: CandidateRows,
        counts: np.ndarray,
        request: ranker_service_pb2.RankPageRequest,
    ) -> Decisions:
        sticky = policy.sticky_s > 0  # only sticky draws are keyed by title
        return policy.choose(
            candidates.score(model, viewer, situation),
            counts,
            request.page_id,
            user_id=request.user_id,
            title_ids=list(request.title_ids) if sticky else (),
        )
