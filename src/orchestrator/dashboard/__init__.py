"""The dashboard: server-rendered pages (Jinja2 templates, a little JavaScript, the vendored
uPlot for charts) for the brands, each brand, and the system, kept live by server-sent events."""
