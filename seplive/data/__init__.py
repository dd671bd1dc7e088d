"""seplive makes its own training data: synthetic multitrack songs, speech and sound effects
mixed on the fly with TUSS's prompt rules, plus readers for real stems a user already has.

See docs/data.md.  Public API: Example, MixtureSampler, heldout_set, SoundfontNotFound,
readers.Musdb18 / readers.StemsFolder, torch_dataset.MixtureDataset.
"""

from .mixing import TASKS, Example, MixtureSampler, heldout_set, rule_violations
from .soundfonts import SoundfontNotFound

__all__ = ["TASKS", "Example", "MixtureSampler", "SoundfontNotFound", "heldout_set", "rule_violations"]
