"""Reference tables shipped with the project, and the pure builders that derive them."""
