"""Tenku engine: everything that makes or changes pixels. No Gradio imports here."""
