"""The Streamlit app (`nqa app` runs streamlit_app.py from this folder, so .streamlit/config.toml applies)."""
