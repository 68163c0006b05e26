"""Training: the two noises of Remask SFT (`noise`), its losses (`losses`), the training step and what trains
(`training`), Remask RL (`rl`, `rewards`), checkpoints, metrics, logging and the trainers' shared arguments."""
