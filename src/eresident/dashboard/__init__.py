"""The leadership dashboard: what the region's services have done, drawn on the server as SVG."""
