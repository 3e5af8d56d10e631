"""movie-rating: predict a movie's TMDB rating from what is known before release."""

__version__ = "0.1.0"
