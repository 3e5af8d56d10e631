"""The PR report's pieces that need no repository (the whole report: tests/e2e)."""

from movie_rating.reporting.pr_report import file_name, table_or, winner_section

EMPTY_DIFF = "| Path   | Metric   | HEAD   | workspace   | Change   |\n|--------|----------|\n"


def test_an_empty_dvc_diff_says_so_instead_of_a_bare_header():
    assert table_or(EMPTY_DIFF, "No metric changed.") == "No metric changed."
    table = EMPTY_DIFF + "| a.json | x | 1 | 2 | 1 |\n"
    assert table_or(table, "No metric changed.") == table.strip()


def test_plot_ids_become_safe_file_names():
    assert file_name("predicted_vs_actual") == "predicted_vs_actual.png"
    assert file_name("reports/plots/x y.csv") == "x_y_csv.png"


def test_the_winner_section_names_the_direction_of_the_change():
    before = {"pipeline": "v1", "family": "ridge", "cv_rmse_mean": 0.8, "test_rmse": 0.85}
    after = {"pipeline": "v5", "family": "lightgbm", "cv_rmse_mean": 0.77, "test_rmse": 0.79}
    section = winner_section("main", before, after)
    assert "`v1-ridge` | `v5-lightgbm`" in section
    assert "-0.0300 (better)" in section
    assert "(no winner at `main`)" in winner_section("main", None, after)
