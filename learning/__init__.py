"""The offline half of the bandit loop: logs → dataset → estimates, training, simulation."""
