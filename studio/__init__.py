"""Tenku Studio: the browser UI and the project model. Pixels come from `engine`."""
