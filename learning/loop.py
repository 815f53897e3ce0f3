"""`keyart loop`'s judgement: train a candidate on the dataset's last days and decide, on one
holdout, whether it should replace the serving model.

One run reads the decisions of the last `days` days, holds out the newest
`holdout` share of them by decision time (learning/train.split: the candidate
never fits on them), trains the candidate on the rest, and estimates both the
candidate's and the serving model's greedy policies on that holdout with DR,
with the same reward model (r̂ cross-fitted on the holdout once). The rule:

    publish when the candidate's DR lower 95 % bound > the serving model's DR estimate

and the candidate's estimate is not resting on a few heavy weights (effective
sample size at least estimators.LOW_ESS). The serving model is the one the
models location's `current.json` names; before anything was published there,
the ranker's own model (RANKER_MODEL_PATH); with neither, the logged policy's
mean reward on the holdout. The verdict, numbers and rule included, is written
into the candidate's card (its `loop` section); publishing is the caller's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from common.model_contract import write_card
from common.models_pointer import model_file, read_pointer
from common.storage import Location
from learning import bilinear, targets
from learning.dataset import BanditData
from learning.estimators import LOW_ESS, Estimate, estimate_all, logged_value
from learning.parquet_reader import load_dataset
from learning.train import servable_info, split, train
from services.ranker.model import RankingModel, model_at

RULE = "publish when the candidate's DR lower 95% bound > the serving model's DR estimate"
DAY_MS = 86_400_000


@dataclass(frozen=True)
class LoopSettings:
    dataset: Location  # directories or filesystem URLs (common/storage.py)
    models: Location
    days: float
    holdout: float
    reward_window_s: float
    ranker_model: Path  # what the rankers serve before anything is published (RANKER_MODEL_PATH)
    fit: bilinear.FitSettings


@dataclass(frozen=True)
class Judged:
    """One policy's DR estimate on the holdout."""

    name: str  # a model version, or "logged policy"
    source: str  # where it came from: current.json, RANKER_MODEL_PATH, the holdout
    value: float
    low: float
    high: float
    ess: float

    @classmethod
    def of(cls, name: str, source: str, estimate: Estimate) -> Judged:
        return cls(name, source, estimate.value, estimate.low, estimate.high, estimate.ess)

    def shown(self) -> str:
        return f"{self.name} dr={self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass(frozen=True)
class Verdict:
    candidate: Judged
    serving: Judged
    holdout_decisions: int
    since_ms: int
    publish: bool
    reason: str

    def to_card(self) -> dict:
        return {
            "rule": RULE,
            "min_ess": LOW_ESS,
            **asdict(self),
        }

    def line(self) -> str:
        return (
            f"loop: candidate={self.candidate.shown()} serving={self.serving.shown()} "
            f"({self.serving.source}) holdout={self.holdout_decisions} "
            f"decision={'publish' if self.publish else 'keep'}: {self.reason}"
        )


def serving_policy(settings: LoopSettings, held: BanditData, predictions: np.ndarray) -> Judged:
    """The serving model's DR estimate on the holdout (see the module docstring for which)."""
    pointer = read_pointer(settings.models)
    if pointer is not None:
        model, source = model_at(model_file(settings.models, pointer.current)), "current.json"
    elif settings.ranker_model.is_file():
        model, source = RankingModel(settings.ranker_model), "RANKER_MODEL_PATH"
    else:
        return Judged.of("logged policy", "the holdout", logged_value(held.reward))
    target = targets.greedy(targets.scores_of(model, held), held)
    dr = next(e for e in estimate_all(held, target, predictions) if e.estimator == "dr")
    return Judged.of(model.version, source, dr)


def decide(candidate: Judged, serving: Judged) -> tuple[bool, str]:
    if candidate.name == serving.name:
        return False, "the candidate is the serving model"
    if not candidate.low > serving.value:
        return False, f"lower bound {candidate.low:.4f} <= serving {serving.value:.4f}"
    if candidate.ess < LOW_ESS:
        return False, (
            f"lower bound {candidate.low:.4f} > serving {serving.value:.4f}, but it rests on "
            f"few decisions (effective sample size {candidate.ess:.0f} < {LOW_ESS:.0f})"
        )
    return True, f"lower bound {candidate.low:.4f} > serving {serving.value:.4f}"


def judge(settings: LoopSettings, out: Path, now_ms: int | None = None) -> Verdict:
    """Trains the candidate into `out` (model and card), judges it against the serving model
    and writes the verdict into its card. Raises TrainingRefused or DatasetError when the
    window cannot train a model worth judging."""
    servable_info(settings.dataset)
    since_ms = (int(time.time() * 1000) if now_ms is None else now_ms) - int(settings.days * DAY_MS)
    data = load_dataset(settings.dataset, settings.reward_window_s, since_ms)
    _, held = split(data, settings.holdout)
    predictions = targets.reward_predictions(held, settings.fit.seed)
    source = f"{settings.dataset} (last {settings.days:g} days)"
    card = train(data, out, settings.fit, settings.holdout, source, predictions=predictions)
    dr = next(e for e in card["holdout_estimates"] if e["estimator"] == "dr")
    candidate = Judged(
        card["model_version"], "trained", dr["value"], dr["low"], dr["high"], dr["ess"]
    )
    serving = serving_policy(settings, held, predictions)
    publish, reason = decide(candidate, serving)
    verdict = Verdict(candidate, serving, len(held), since_ms, publish, reason)
    write_card(out, {**card, "loop": verdict.to_card()})
    return verdict
