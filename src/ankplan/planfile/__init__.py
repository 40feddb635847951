"""Saved plans: the JSON codecs of workloads, inventories and plans, per-node fingerprints of what
a plan was based on, and recorded live state. Pure: converts values to and from text."""
