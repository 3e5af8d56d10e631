"""What a reader sees: the PR report, the experiment comparison, the rendered notebooks."""
