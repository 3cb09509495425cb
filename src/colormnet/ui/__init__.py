"""The web app (``colormnet ui``, extra ``ui``): ``jobs`` runs one colorization in a thread with
progress, previews and cancel (no Gradio needed); ``app`` is the Gradio page and server."""
