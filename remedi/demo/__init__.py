"""What the Gradio demo (app.py) needs beside the sampler: a model's demo.json, step pictures and memory hygiene."""
