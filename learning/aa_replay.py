"""The simulator's A/A experiments made again without the suite: the same draws, the same lift.

In `keyart simulate --experiment`'s A/A experiments both cells show each title's
catalog default artwork, so everything the report reads is fixed by the seed:
the pages (viewer, device, titles: `learning.simulate.draw_page`), each viewer's
cell (the hash of experiment and viewer, `common.experiments`), the artwork
shown (the title's best-AVA default, the one the world's `default_artwork`
names) and each tile's play (the page's next uniform below the click model's
probability). So an A/A read can be made here exactly as the suite makes it:

- a check that the suite adds, loses or leaks nothing between the draws and
  the report (tests/e2e/test_simulate_experiment.py compares the two);
- many more A/A experiments than the suite could serve, to measure the
  intervals' coverage on the simulator's own data (`bench/aa_coverage.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.experiments import parse
from learning.clustered import Estimate, lift
from learning.sim_world import World, play_probability
from learning.simulate import DEVICES, draw_page
from learning.simulate_experiment import AA_ROUNDS, aa_experiment, experiments_document

Cell = tuple[np.ndarray, np.ndarray]  # plays and impressions, one entry per viewer seen


@dataclass(frozen=True)
class AARead:
    control: Cell  # the first cell, the report's control
    treatment: Cell

    def lift(self) -> Estimate:
        return lift(self.treatment, self.control)


class AAReplay:
    """A/A experiments of the run with `seed` over `world`, pages of `titles` titles."""

    def __init__(self, world: World, seed: int, titles: int) -> None:
        self.world, self.seed, self.titles = world, seed, titles
        self._viewer = {viewer.user_id: i for i, viewer in enumerate(world.viewers)}
        self._title = {title_id: i for i, title_id in enumerate(world.choosable)}
        self._device = {int(device): i for i, device in enumerate(DEVICES)}
        # P(play) of each title's default artwork by viewer, title and device; NaN: not yet
        # needed (the reads need most of them, and computing one is the slow part).
        shape = (len(self._viewer), len(self._title), len(DEVICES))
        self._probability = np.full(shape, np.nan)

    def _play_probabilities(self, user: int, titles: list[str], device: int) -> np.ndarray:
        columns = np.array([self._title[title_id] for title_id in titles])
        known = self._probability[user, columns, self._device[device]]
        for i in np.flatnonzero(np.isnan(known)):
            title = self.world.titles[titles[i]]
            default = self.world.default_artwork(title.title_id)
            artwork = next(a for a in title.artworks if a.artwork_id == default)
            known[i] = play_probability(self.world.viewers[user], artwork, device)
        self._probability[user, columns, self._device[device]] = known
        return known

    def read(self, aa_seed: int, pages: int) -> AARead:
        """A/A experiment `aa_seed` of `pages` pages, as the suite serves and reports it."""
        name, cells = aa_experiment(self.seed, aa_seed)
        experiment = parse(experiments_document(name, cells)).experiments[0]
        in_control = np.array(
            [experiment.cell_of(v.user_id).name == cells[0]["name"] for v in self.world.viewers]
        )
        plays, impressions = np.zeros(len(self._viewer)), np.zeros(len(self._viewer))
        for page_index in range(pages):
            draw = draw_page(self.world, self.seed, AA_ROUNDS + aa_seed, page_index, self.titles)
            user = self._viewer[draw.viewer.user_id]
            probabilities = self._play_probabilities(user, draw.titles, draw.device)
            uniforms = np.array([draw.rng.random() for _ in draw.titles])  # in the tiles' order
            plays[user] += int((uniforms < probabilities).sum())
            impressions[user] += len(draw.titles)
        seen = impressions > 0
        control, treatment = seen & in_control, seen & ~in_control
        return AARead(
            (plays[control], impressions[control]), (plays[treatment], impressions[treatment])
        )
