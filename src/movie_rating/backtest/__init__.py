"""The temporal backtest: the winner refitted at each cut year, scored on the films after it."""
