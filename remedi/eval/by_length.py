"""Accuracy split by how many worked lines the reference answer has: where a budget runs out on a task whose
lines depend on each other (each line of a chain needs the result of the line before it).

A worked line is a line of the reference answer before its '####' line; a chain of k operations has k.
"""

from collections import defaultdict

from remedi.eval.stats import accuracy_ci, bootstrap_indices


def worked_lines(answer):
    """Lines of `answer` before the first line that starts with '####' (all its lines if it has none)."""
    lines = answer.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("####"):
            return i
    return len(lines)


def accuracy_by_group(correct, groups, n_boot=2000, seed=0):
    """{group: {mean, lo, hi, n}} of the 0/1 scores `correct`, split by `groups` (one key per problem, same order)."""
    if len(correct) != len(groups):
        raise ValueError(f"{len(correct)} scores for {len(groups)} problems: the run must answer the data's "
                         "first problems, in order")
    members = defaultdict(list)
    for score, group in zip(correct, groups):
        members[group].append(score)
    return {group: accuracy_ci(scores, bootstrap_indices(len(scores), n_boot, seed))
            for group, scores in sorted(members.items())}
