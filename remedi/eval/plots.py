"""Figures of an evaluation run, built on matplotlib Figure objects (no pyplot state, any backend).

- accuracy vs step budget, one line per (source, remask), one panel per block length, 95% CI bars;
- masked count after each step against LLaDA's schedule, one panel per (steps, block length), one legend;
- tokens remasked per step, same panels (only settings with remasking on can remask);
- accuracy vs forward passes per answer, one line per (source, remask) through its confidence thresholds.

Settings with a threshold are their own lines in the first three, named with it.
"""

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _label(result):
    return result["source"] + (" + remask" if result["remask"] else "")


def _label_with_threshold(result):
    threshold = result.get("threshold")
    return _label(result) + ("" if threshold is None else f", threshold {threshold:g}")


def _grid_figure(n_panels, width=4.2, height=3.0):
    columns = min(n_panels, 3)
    rows = -(-n_panels // columns)
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    return figure, [figure.add_subplot(rows, columns, i + 1) for i in range(n_panels)]


def accuracy_figure(results):
    block_lengths = sorted({r["block_length"] for r in results})
    figure, panels = _grid_figure(len(block_lengths))
    for axes, block_length in zip(panels, block_lengths):
        runs = [r for r in results if r["block_length"] == block_length]
        labels = list(dict.fromkeys(_label_with_threshold(r) for r in runs))
        for i, label in enumerate(labels):
            line = sorted((r for r in runs if _label_with_threshold(r) == label), key=lambda r: r["steps"])
            dodge = 1 + 0.04 * (i - (len(labels) - 1) / 2)  # side by side, so equal accuracies stay visible
            steps = [r["steps"] * dodge for r in line]
            mean = [r["accuracy"]["mean"] for r in line]
            below = [r["accuracy"]["mean"] - r["accuracy"]["lo"] for r in line]
            above = [r["accuracy"]["hi"] - r["accuracy"]["mean"] for r in line]
            axes.errorbar(steps, mean, yerr=[below, above], marker="o", capsize=3, label=label)
        axes.set_xscale("log", base=2)
        budgets = sorted({r["steps"] for r in runs})
        axes.set_xticks(budgets, [str(b) for b in budgets])
        axes.minorticks_off()
        axes.set_xlabel("steps")
        axes.set_ylabel("accuracy (95% CI)")
        axes.set_ylim(-0.02, 1.02)
        axes.set_title(f"block length {block_length}", fontsize="medium")
        axes.legend(fontsize="small")
    return figure


def _setting_keys(results):
    """(steps, block length) of every panel, by block length, most steps first."""
    return sorted({(r["steps"], r["block_length"]) for r in results}, key=lambda k: (k[1], -k[0]))


def _per_setting_panels(results, draw, ylabel):
    """One panel per (steps, block length) and one legend below them all, not one per panel over the lines.

    `draw(axes, runs)` plots one panel's runs and returns {legend label: line}; it may set the title.
    """
    keys = _setting_keys(results)
    figure, panels = _grid_figure(len(keys), width=3.4, height=2.6)
    handles = {}
    for axes, (steps, block_length) in zip(panels, keys):
        axes.set_title(f"{steps} steps, block length {block_length}", fontsize="medium")
        handles.update(draw(axes, [r for r in results if (r["steps"], r["block_length"]) == (steps, block_length)]))
        axes.set_xlabel("step")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if axes.get_subplotspec().is_first_col():
            axes.set_ylabel(ylabel)
    figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(4, len(handles)),
                  frameon=False)
    return figure


def mask_counts_by_setting_figure(results):
    """Masked count after each step against LLaDA's schedule, one panel per (steps, block length).

    Every setting should sit exactly on the schedule, so the lines overlap by design: hollow markers of
    shrinking size keep each one visible, and a panel title says in red which settings left the schedule.
    """
    labels = list(dict.fromkeys(_label_with_threshold(r) for r in results))
    shrink = 5 / max(1, len(labels) - 1)
    styles = {label: dict(color=f"C{i}", marker=MARKERS[i % len(MARKERS)], markersize=10 - shrink * i)
              for i, label in enumerate(labels)}

    def draw(axes, runs):
        x = range(1, len(runs[0]["masked_expected"]) + 1)
        handles = {"LLaDA schedule": axes.plot(x, runs[0]["masked_expected"], color="black", linewidth=5,
                                               alpha=0.25)[0]}
        for r in runs:
            label = _label_with_threshold(r)
            handles[label] = axes.plot(x, r["masked_observed_mean"], linewidth=0.8, markerfacecolor="none",
                                       markevery=max(1, len(x) // 8), **styles[label])[0]
        off = [_label_with_threshold(r) for r in runs if not r["mask_schedule_ok"]]
        if off:
            axes.set_title(axes.get_title() + "".join(f"\nOFF SCHEDULE: {name}" for name in off),
                           fontsize="medium", color="red")
        return handles

    return _per_setting_panels(results, draw, "masked tokens after step")


def remask_figure(results):
    """None when no setting remasks (nothing to draw). The totals per answer are in the accuracy table."""
    remasking = [r for r in results if r["remask"]]
    if not remasking:
        return None
    labels = dict.fromkeys(_label_with_threshold(r) for r in remasking)
    colours = {label: f"C{i}" for i, label in enumerate(labels)}

    def draw(axes, runs):
        return {_label_with_threshold(r): axes.plot(range(1, len(r["remasks_per_step"]) + 1), r["remasks_per_step"],
                                                    marker=".", color=colours[_label_with_threshold(r)])[0]
                for r in runs}

    return _per_setting_panels(remasking, draw, "remasked per answer (mean)")


def passes_figure(results, chosen=()):
    """Accuracy against forward passes per answer, one line per (source, remask) through its thresholds.

    A rule's line ends at its run of the full step budget without a threshold; its runs at smaller fixed
    budgets, if given, are a dashed line of their own, labelled with their steps. `chosen` names results
    (by their `name`) to ring, e.g. the thresholds picked on a validation split. None when no result has a
    threshold.
    """
    if not any(r.get("threshold") is not None for r in results):
        return None
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    full_budget = max(r["steps"] for r in results)
    series = []
    for label in dict.fromkeys(_label(r) for r in results):
        runs = [r for r in results if _label(r) == label]
        fewer_steps = [r for r in runs if r.get("threshold") is None and r["steps"] < full_budget]
        series.append((label, [r for r in runs if r not in fewer_steps], "-"))
        if fewer_steps:
            series.append((f"{label}, fixed step budgets", fewer_steps, "--"))
    for i, (label, runs, style) in enumerate(series):
        line = sorted(runs, key=lambda r: r["forward_passes_per_answer"])
        passes = [r["forward_passes_per_answer"] for r in line]
        mean = [r["accuracy"]["mean"] for r in line]
        below = [r["accuracy"]["mean"] - r["accuracy"]["lo"] for r in line]
        above = [r["accuracy"]["hi"] - r["accuracy"]["mean"] for r in line]
        axes.errorbar(passes, mean, yerr=[below, above], marker=MARKERS[i % len(MARKERS)], capsize=3,
                      color=f"C{i}", linestyle=style, label=label)
        for r in line:
            tag = f"{r['steps']} steps" if r.get("threshold") is None else f"{r['threshold']:g}"
            axes.annotate(tag, (r["forward_passes_per_answer"], r["accuracy"]["mean"]), textcoords="offset points",
                          xytext=(4, -10), fontsize="x-small", color=f"C{i}")
            if r["name"] in chosen:
                axes.plot(r["forward_passes_per_answer"], r["accuracy"]["mean"], "o", markersize=14,
                          markerfacecolor="none", markeredgecolor="black")
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.set_xlim(right=1.4 * max(r["forward_passes_per_answer"] for r in results))  # room for the last label
    axes.set_xlabel("forward passes per answer (threshold, or fixed steps, next to each point)")
    axes.set_ylabel("accuracy (95% CI)")
    axes.legend(fontsize="small", loc="lower right")
    return figure
