"""The web page served at `/`: plain static files, no build step."""
