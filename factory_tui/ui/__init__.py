"""The Textual cockpit: app, screens, widgets, themes. Background code posts messages; only
handlers on the App or a Screen change what is shown."""
