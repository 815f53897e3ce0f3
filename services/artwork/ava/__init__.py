"""Aesthetic Visual Analysis: stills and video in, tagged and ranked candidate artwork out.

frames (decode, sample, shots) → annotate (visual, contextual, composition)
→ rank (filter, aesthetic score, dedupe, diversity) → crop → ingest (images, registration).
Images are BGR uint8 arrays throughout, as OpenCV reads them.
"""
