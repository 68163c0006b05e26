"""Reading answers out of completions and grading them (GSM8K/MATH numbers, arithmetic chains, Sudoku grids).

Below both the evaluation and the RL rewards, so a reward does not depend on the evaluation's command line."""
