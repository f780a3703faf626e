"""plot_curves draws every figure's curves one way: epochs from 1 on integer ticks, each
curve distinct, axes labelled, the legend beside crowded axes."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tfpipeline.plots import curve_styles, plot_curves  # noqa: E402


def test_curves_start_at_epoch_one_on_integer_ticks_with_labelled_axes():
    fig, ax = plt.subplots(layout="constrained")
    plot_curves(ax, {"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, 0.6]}, ylabel="loss")
    fig.canvas.draw()
    assert [list(line.get_xdata()) for line in ax.get_lines()] == [[1, 2, 3], [1, 2, 3]]
    assert all(float(tick).is_integer() for tick in ax.get_xticks())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "loss")
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["loss", "val_loss"]
    plt.close(fig)


def test_no_two_curves_share_a_style_and_a_crowded_legend_goes_beside_the_axes():
    styles = curve_styles(12)
    keys = {(s["color"], s["linestyle"], s["marker"]) for s in styles}
    assert len(keys) == 12
    assert all(len({s[part] for s in styles[:4]}) == 4 for part in ("color", "linestyle"))
    fig, ax = plt.subplots(layout="constrained")
    plot_curves(ax, {f"optimizer {i}": [1.0 / (i + 1), 0.5] for i in range(5)}, ylabel="loss")
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1  # beside, not over, the curves
    plt.close(fig)
