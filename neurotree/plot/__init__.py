"""Plots of records and analyses (matplotlib, the optional `plot` extra): in progress."""
